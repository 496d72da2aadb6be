"""Figures (matplotlib, no display needed) and the markdown report of a data-set evaluation.

Figures are written atomically as PNG: per-class IoU bars, a depth error map, the trajectory against ground
truth and a top-down map against the true surface (both seen from the axis the camera moved least along).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from m2h_slam.core.atomic import atomic_write_bytes
from m2h_slam.core.labels import NYU40

#: NYUD-MT val numbers of the M2H paper (mIoU %, depth RMSE m, mean normal angle deg, edge odsF %).
PAPER_NYUD = {"M2H (paper)": (61.54, 0.4196, 13.81, 85.27), "M2H-small (paper)": (58.05, 0.4396, 14.04, 74.44)}


def _figure(width_in: float = 6.0, height_in: float = 4.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")


def _save(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return atomic_write_bytes(path, buffer.getvalue())


def iou_bars(path: Path, iou_per_class: dict[int, float]) -> Path:
    """Horizontal bars of the IoU of each class present, best first."""
    ranked = sorted(iou_per_class.items(), key=lambda kv: -kv[1])
    figure = _figure(6.0, max(2.0, 0.22 * len(ranked) + 0.8))
    ax = figure.subplots()
    ax.barh([NYU40[k].name for k, _ in ranked][::-1], [100 * v for _, v in ranked][::-1], color="#4c72b0")
    ax.set_xlabel("IoU (%)")
    ax.set_xlim(0, 100)
    ax.set_title("Semantic IoU per class")
    return _save(figure, path)


def depth_error_figure(path: Path, rgb: np.ndarray, predicted_m: np.ndarray, true_m: np.ndarray) -> Path:
    """Image, true depth, predicted depth and the absolute relative error (H, W arrays in m; 0 = no truth)."""
    valid = true_m > 0
    error = np.where(valid, np.abs(predicted_m - true_m) / np.where(valid, true_m, 1), np.nan)
    top = float(np.percentile(true_m[valid], 99)) if valid.any() else 1.0
    figure = _figure(10.0, 2.6)
    axes = figure.subplots(1, 4)
    axes[0].imshow(rgb)
    axes[1].imshow(np.where(valid, true_m, np.nan), vmin=0, vmax=top, cmap="viridis")
    shown = axes[2].imshow(predicted_m, vmin=0, vmax=top, cmap="viridis")
    figure.colorbar(shown, ax=axes[2], label="m", shrink=0.8)
    shown = axes[3].imshow(error, vmin=0, vmax=0.5, cmap="magma")
    figure.colorbar(shown, ax=axes[3], label="AbsRel", shrink=0.8)
    for ax, title in zip(axes, ("image", "true depth", "predicted depth", "abs. rel. error")):
        ax.set_title(title)
        ax.axis("off")
    return _save(figure, path)


def _plan_axes(positions: np.ndarray) -> list[int]:
    """The two world axes of a top-down view: all but the one the camera moved least along (its height)."""
    least = int(np.argmin(np.ptp(positions, axis=0))) if len(positions) else 2
    return [k for k in range(3) if k != least]


def trajectory_figure(path: Path, reference_xyz: np.ndarray, estimate_xyz: np.ndarray) -> Path:
    """Top-down (N, 3) true and aligned estimated camera positions (m)."""
    a, b = _plan_axes(reference_xyz)
    figure = _figure(5.0, 5.0)
    ax = figure.subplots()
    ax.plot(reference_xyz[:, a], reference_xyz[:, b], "k-", label="ground truth")
    ax.plot(estimate_xyz[:, a], estimate_xyz[:, b], "-", color="#dd8452", label="estimate (aligned)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"{'xyz'[a]} (m)")
    ax.set_ylabel(f"{'xyz'[b]} (m)")
    ax.legend(loc="best")
    return _save(figure, path)


def topdown_figure(path: Path, reference_points: np.ndarray, estimate_points: np.ndarray,
                   camera_xyz: np.ndarray, max_points: int = 20000) -> Path:
    """Top-down view of the true surface (grey) and the aligned estimated map (colour), (N, 3) points in m."""
    a, b = _plan_axes(camera_xyz)
    rng = np.random.default_rng(0)

    def thinned(points: np.ndarray) -> np.ndarray:
        return points[rng.choice(len(points), max_points, replace=False)] if len(points) > max_points else points

    figure = _figure(5.0, 5.0)
    ax = figure.subplots()
    reference, estimate = thinned(reference_points), thinned(estimate_points)
    ax.scatter(reference[:, a], reference[:, b], s=0.5, c="0.6", label="true surface")
    ax.scatter(estimate[:, a], estimate[:, b], s=0.5, c="#4c72b0", label="map (aligned)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"{'xyz'[a]} (m)")
    ax.set_ylabel(f"{'xyz'[b]} (m)")
    ax.legend(loc="best", markerscale=10)
    return _save(figure, path)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]


DENSE_COLUMNS = (("depth", "abs_rel"), ("depth", "rmse_m"), ("depth", "delta1"), ("semantics", "miou"),
                 ("semantics", "pixel_accuracy"), ("normals", "mean_deg"), ("normals", "under_11.25_deg"),
                 ("edges", "ods_f"))
MAPPING_COLUMNS = ("ate_percent_of_path", "ate_rmse_m", "rpe_rmse_m", "mesh_accuracy_m", "mesh_completeness_m",
                   "mesh_f1@0.05m", "objects_f1", "rooms_precision", "rooms_recall")


def _dense_row(dense: dict) -> list:
    return [dense[task][key] if dense.get(task) else None for task, key in DENSE_COLUMNS]


def paper_table(dense: dict) -> dict | None:
    """The four numbers of the M2H paper's NYUD-MT table from our dense results (None without all four tasks)."""
    if not all(dense.get(task) for task in ("depth", "semantics", "normals", "edges")):
        return None
    return {"miou_percent": 100 * dense["semantics"]["miou"], "depth_rmse_m": dense["depth"]["rmse_m"],
            "normal_mean_deg": dense["normals"]["mean_deg"], "edge_ods_f_percent": 100 * dense["edges"]["ods_f"]}


def report_markdown(metrics: dict, figures: dict[str, str]) -> str:
    """report.md of a data-set evaluation from its metrics.json content; ``figures``: name -> relative PNG path."""
    aggregate, scenes = metrics["aggregate"], metrics["scenes"]
    lines = [f"# Evaluation of {metrics['dataset']}", "",
             f"Format {metrics['format']}, split {metrics['split'] or '-'}, perception {metrics['perception']}; "
             f"{aggregate['scenes_ok']} scene(s) scored, {len(metrics['failed'])} failed, "
             f"{aggregate['frames']} frame(s).", ""]
    dense = aggregate["dense"]
    lines += ["## Dense perception (pixels pooled over all scenes)", ""]
    lines += _table([f"{t} {k}" for t, k in DENSE_COLUMNS], [_dense_row(dense)]) + [""]
    table = metrics.get("paper_table")
    if table:
        lines += ["## The M2H paper's NYUD-MT table", ""]
        rows = [["this evaluation", table["miou_percent"], table["depth_rmse_m"], table["normal_mean_deg"],
                 table["edge_ods_f_percent"]]] + [[name, *values] for name, values in PAPER_NYUD.items()]
        lines += _table(["", "mIoU %", "depth RMSE m", "normal mean deg", "edge odsF %"], rows) + [""]
    if aggregate.get("mapping"):
        lines += ["## Mapping (mean over scenes)", ""]
        lines += _table(list(MAPPING_COLUMNS), [[aggregate["mapping"].get(k) for k in MAPPING_COLUMNS]]) + [""]
    lines += ["## Scenes", ""]
    rows = [[name, row["frames"], *_dense_row(row["dense"]),
             *([(row.get("mapping") or {}).get(k) for k in MAPPING_COLUMNS[:3]])] for name, row in scenes.items()]
    lines += _table(["scene", "frames", *[f"{t} {k}" for t, k in DENSE_COLUMNS], *MAPPING_COLUMNS[:3]], rows) + [""]
    if metrics["failed"]:
        lines += ["## Failed scenes", ""] + [f"- `{name}`: {error}" for name, error in metrics["failed"].items()] + [""]
    if figures:
        lines += ["## Figures", ""] + [f"### {name}\n\n![{name}]({path})\n" for name, path in figures.items()]
    return "\n".join(lines) + "\n"
