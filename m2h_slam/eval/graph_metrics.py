"""Scene-graph metrics on plain scene-graph documents (docs/scene-graph.schema.json).

Both graphs must be in one frame: pass the estimated graph through ``reference_T_estimate``
(the trajectory alignment) first. Objects: same class, box centres within ``gate_m``, each true
object matched once, over the true objects the camera saw. Rooms: footprint IoU >= 0.5 on a
5 cm raster, one-to-one (Hungarian), recall over the rooms the camera was in. Agents: how many,
and ID switches (a true person followed by more than one agent).
"""

from __future__ import annotations

import numpy as np
from matplotlib.path import Path as Polygon
from scipy.optimize import linear_sum_assignment


def _prf(true_positives: int, estimated: int, relevant: int) -> dict:
    precision = true_positives / estimated if estimated else 0.0
    recall = true_positives / relevant if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def object_scores(estimated: list[dict], truth: list[dict], seen_ids: set[int], reference_T_estimate: np.ndarray,
                  gate_m: float = 0.5) -> dict:
    """Object precision / recall / F1 (see the module doc); ``seen_ids``: true objects the camera saw."""
    wanted = [o for o in truth if o["id"] in seen_ids]
    centres = [reference_T_estimate[:3, :3] @ np.array(o["box"]["center"]) + reference_T_estimate[:3, 3]
               for o in estimated]
    cost = np.full((len(estimated), len(wanted)), 1e6)
    for i, (o, c) in enumerate(zip(estimated, centres)):
        for j, t in enumerate(wanted):
            d = float(np.linalg.norm(c - np.array(t["box"]["center"])))
            if o["class_id"] == t["class_id"] and d < gate_m:
                cost[i, j] = d
    rows, cols = linear_sum_assignment(cost) if cost.size else ([], [])
    matched = int(sum(cost[r, c] < 1e6 for r, c in zip(rows, cols)))
    return {**_prf(matched, len(estimated), len(wanted)), "estimated": len(estimated), "seen": len(wanted)}


def _raster(footprints: list[np.ndarray], lo: np.ndarray, shape: tuple[int, int], cell_m: float) -> list[np.ndarray]:
    rows, cols = np.indices(shape)
    xy = lo + np.stack([cols.ravel(), rows.ravel()], axis=1) * cell_m
    return [Polygon(f).contains_points(xy).reshape(shape) for f in footprints]


def room_scores(estimated: list[dict], truth: list[dict], camera_xy: np.ndarray, reference_T_estimate: np.ndarray,
                cell_m: float = 0.05, min_iou: float = 0.5) -> dict:
    """Room precision / recall by footprint IoU (see the module doc); ``camera_xy`` (N, 2) true positions."""
    R, t = reference_T_estimate[:2, :2], reference_T_estimate[:2, 3]
    est = [np.array(r["footprint"]) @ R.T + t for r in estimated]
    true = [np.array(r["footprint"]) for r in truth]
    visited = [bool(Polygon(f).contains_points(camera_xy).any()) for f in true]
    everything = np.concatenate(est + true) if est or true else np.zeros((1, 2))
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    shape = tuple((np.ceil((hi - lo) / cell_m).astype(int) + 1)[::-1])
    masks_est, masks_true = _raster(est, lo, shape, cell_m), _raster(true, lo, shape, cell_m)
    iou = np.zeros((len(est), len(true)))
    for i, a in enumerate(masks_est):
        for j, b in enumerate(masks_true):
            union = (a | b).sum()
            iou[i, j] = (a & b).sum() / union if union else 0.0
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
    """Agent count against the true people the camera saw, and ID switches."""
    followed: dict[int, set[int]] = {}
    for agent in estimated:
        positions = np.array(agent["positions"]).reshape(-1, 3) @ reference_T_estimate[:3, :3].T + \
            reference_T_estimate[:3, 3]
        for time_s, position in zip(agent["times_s"], positions):
            best, best_d = None, gate_m
            for person in truth:
                times = np.array(person["times_s"])
                k = int(np.argmin(np.abs(times - time_s)))
                d = float(np.linalg.norm(np.array(person["positions"][k])[:2] - position[:2]))
                if d < best_d:
                    best, best_d = person["id"], d
            if best is not None:
                followed.setdefault(best, set()).add(agent["id"])
    switches = sum(len(agents) - 1 for agents in followed.values())
    return {"agents": len(estimated), "people_seen": len([p for p in truth if p["id"] in seen_ids]),
            "people_followed": len(followed), "id_switches": switches}
