"""Scene-graph metrics on plain scene-graph documents (docs/scene-graph.schema.json).

Both graphs must be in one frame: pass the estimated graph through ``reference_T_estimate``
(the trajectory alignment) first. Objects: same class, the estimated box centre within ``gate_m``
of the true box centre or of the centre of the part of the object the camera saw (a sofa seen only
at one end cannot be placed better), each true object matched once, over the true objects the
camera saw. Rooms: footprint IoU >= 0.5 on a
5 cm raster, one-to-one (Hungarian), recall over the rooms the camera was in. When the observed
surface points are given, a room also counts as found when it matches the part of the true room
the camera saw (the footprint clipped to the bounding box of the observed points inside it):
space never in view cannot be mapped, and a room completed along its walls still matches whole.
Agents: how many, and ID switches (CLEAR-MOT: a person matched to another agent than before).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from m2h_slam.core.polygons import points_in_polygon


def _prf(true_positives: int, estimated: int, relevant: int) -> dict:
    precision = true_positives / estimated if estimated else 0.0
    recall = true_positives / relevant if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def object_scores(estimated: list[dict], truth: list[dict], seen: dict[int, np.ndarray],
                  reference_T_estimate: np.ndarray, gate_m: float = 0.5) -> dict:
    """Object precision / recall / F1 (see the module doc); ``seen``: true objects the camera saw -> the centre
    (3,) of the part of each that it saw (NaN: compare with the whole box only)."""
    wanted = [o for o in truth if o["id"] in seen]
    centres = [reference_T_estimate[:3, :3] @ np.array(o["box"]["center"]) + reference_T_estimate[:3, 3]
               for o in estimated]
    cost = np.full((len(estimated), len(wanted)), 1e6)
    for i, (o, c) in enumerate(zip(estimated, centres)):
        for j, t in enumerate(wanted):
            whole = float(np.linalg.norm(c - np.array(t["box"]["center"])))
            part = float(np.linalg.norm(c - seen[t["id"]]))
            d = min(whole, part) if np.isfinite(part) else whole
            if o["class_id"] == t["class_id"] and d < gate_m:
                cost[i, j] = d
    rows, cols = linear_sum_assignment(cost) if cost.size else ([], [])
    matched = int(sum(cost[r, c] < 1e6 for r, c in zip(rows, cols)))
    return {**_prf(matched, len(estimated), len(wanted)), "estimated": len(estimated), "seen": len(wanted)}


def _raster(footprints: list[np.ndarray], lo: np.ndarray, shape: tuple[int, int], cell_m: float) -> list[np.ndarray]:
    rows, cols = np.indices(shape)
    xy = lo + np.stack([cols.ravel(), rows.ravel()], axis=1) * cell_m
    return [points_in_polygon(f, xy).reshape(shape) for f in footprints]


def _seen_part(footprint: np.ndarray, mask: np.ndarray, seen_xy: np.ndarray, lo: np.ndarray,
               cell_m: float) -> np.ndarray:
    """The cells of ``mask`` (a true room) inside the bounding box of the seen points that lie in the room."""
    inside = seen_xy[points_in_polygon(footprint, seen_xy)]
    if len(inside) < 3:
        return np.zeros_like(mask)
    (x0, y0), (x1, y1) = inside.min(axis=0), inside.max(axis=0)
    return mask & _raster([np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])], lo, mask.shape, cell_m)[0]


def _iou(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """(len(a), len(b)) intersection over union of masks."""
    iou = np.zeros((len(a), len(b)))
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            union = (x | y).sum()
            iou[i, j] = (x & y).sum() / union if union else 0.0
    return iou


def room_scores(estimated: list[dict], truth: list[dict], camera_xy: np.ndarray, reference_T_estimate: np.ndarray,
                seen_xy: np.ndarray | None = None, cell_m: float = 0.05, min_iou: float = 0.5) -> dict:
    """Room precision / recall by footprint IoU (see the module doc); ``camera_xy`` (N, 2) true positions,
    ``seen_xy`` (M, 2+) observed surface points (m), or None to compare with whole rooms only."""
    R, t = reference_T_estimate[:2, :2], reference_T_estimate[:2, 3]
    est = [np.array(r["footprint"]) @ R.T + t for r in estimated]
    true = [np.array(r["footprint"]) for r in truth]
    visited = [bool(points_in_polygon(f, camera_xy).any()) for f in true]
    everything = np.concatenate(est + true) if est or true else np.zeros((1, 2))
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    shape = tuple((np.ceil((hi - lo) / cell_m).astype(int) + 1)[::-1])
    masks_est, masks_true = _raster(est, lo, shape, cell_m), _raster(true, lo, shape, cell_m)
    iou = _iou(masks_est, masks_true)
    if seen_xy is not None:
        seen_xy = np.asarray(seen_xy)[:, :2]
        seen_parts = [_seen_part(f, m, seen_xy, lo, cell_m) for f, m in zip(true, masks_true)]
        iou = np.maximum(iou, _iou(masks_est, seen_parts))
    rows, cols = linear_sum_assignment(-iou) if iou.size else ([], [])
    good = [(r, c) for r, c in zip(rows, cols) if iou[r, c] >= min_iou]
    relevant = sum(visited)
    matched_visited = sum(visited[c] for _, c in good)
    return {"precision": round(len(good) / len(est), 4) if est else 0.0,
            "recall": round(matched_visited / relevant, 4) if relevant else 0.0,
            "estimated": len(est), "visited": relevant,
            "iou": [round(float(iou[r, c]), 4) for r, c in zip(rows, cols)]}


def agent_scores(estimated: list[dict], truth: list[dict], seen_ids: set[int], reference_T_estimate: np.ndarray,
                 gate_m: float = 0.5) -> dict:
    """Agent count against the true people the camera saw, and ID switches as CLEAR-MOT counts them: at each
    time an agent was seen, agents and people are matched one to one (nearest, within ``gate_m``, on the
    floor); a switch is a person matched to another agent than at its previous match."""
    tracks = [(agent["id"], np.asarray(agent["times_s"], float),
               np.array(agent["positions"], float).reshape(-1, 3) @ reference_T_estimate[:3, :3].T
               + reference_T_estimate[:3, 3]) for agent in estimated]
    people = [(person["id"], np.asarray(person["times_s"], float), np.array(person["positions"], float))
              for person in truth]
    last_match: dict[int, int] = {}
    switches: dict[int, int] = {}
    for time_s in np.unique(np.concatenate([t for _, t, _ in tracks])) if tracks and people else []:
        here = [(agent_id, positions[np.flatnonzero(times == time_s)[0]]) for agent_id, times, positions in tracks
                if np.any(times == time_s)]
        where = [positions[int(np.argmin(np.abs(times - time_s)))] for _, times, positions in people]
        cost = np.array([[np.linalg.norm(a[:2] - p[:2]) for p in where] for _, a in here])
        for r, c in zip(*linear_sum_assignment(cost)):
            if cost[r, c] >= gate_m:
                continue
            person, agent_id = people[c][0], here[r][0]
            if person in last_match and last_match[person] != agent_id:
                switches[person] = switches.get(person, 0) + 1
            last_match[person] = agent_id
    return {"agents": len(estimated), "people_seen": len([p for p in truth if p["id"] in seen_ids]),
            "people_followed": len(last_match), "id_switches": sum(switches.values()),
            "most_switches_per_person": max(switches.values(), default=0)}
