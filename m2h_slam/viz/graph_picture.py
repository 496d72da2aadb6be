"""The scene graph from above (``scene_graph.png``): rooms coloured and named, objects as labelled
markers, the places graph faint, agent trajectories as lines. Drawn from the scene-graph JSON."""

from __future__ import annotations

import os

import numpy as np

from m2h_slam.core.atomic import atomic_write
from m2h_slam.core.labels import PALETTE


def draw_scene_graph(data: dict, path: str | os.PathLike, mesh_xy: np.ndarray | None = None,
                     mesh_rgb: np.ndarray | None = None) -> None:
    """Write a top-down PNG of a scene-graph document; ``mesh_xy`` (N, 2) m with ``mesh_rgb`` (N, 3) uint8
    draws the map underneath (points below 1.8 m)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    fig, ax = plt.subplots(figsize=(8, 8), dpi=100)
    if mesh_xy is not None and len(mesh_xy):
        image, extent = _top_view(np.asarray(mesh_xy, float), np.asarray(mesh_rgb, np.uint8))
        ax.imshow(image, extent=extent, origin="lower", interpolation="nearest", zorder=1)
    colours = plt.get_cmap("tab10")
    for k, room in enumerate(data.get("rooms", [])):
        footprint = np.array(room["footprint"])
        ax.add_patch(Polygon(footprint, closed=True, alpha=0.25, color=colours(k % 10), zorder=0))
        centre = room.get("centroid", footprint.mean(axis=0))
        ax.text(*centre, f"{room.get('type') or 'room'} {room['id']}", ha="center", fontsize=9, weight="bold", zorder=5)
    places = {p["id"]: p["position"] for p in data.get("places", [])}
    for place in data.get("places", []):
        for other in place["neighbours"]:
            if other > place["id"]:
                a, b = places[place["id"]], places[other]
                ax.plot([a[0], b[0]], [a[1], b[1]], color="0.6", linewidth=0.4, zorder=2)
    for obj in data.get("objects", []):
        centre = obj.get("centroid", obj["box"]["center"])
        ax.scatter([centre[0]], [centre[1]], s=25, color=PALETTE[obj["class_id"]] / 255.0, edgecolors="k", zorder=4)
        ax.text(centre[0], centre[1] + 0.08, obj["class_name"], fontsize=6, ha="center", zorder=5)
    for agent in data.get("agents", []):
        positions = np.array(agent["positions"]).reshape(-1, 3)
        ax.plot(positions[:, 0], positions[:, 1], linewidth=1.2, zorder=3)
        if len(positions):
            ax.text(*positions[-1, :2], f"agent {agent['id']}", fontsize=7, zorder=5)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title("scene graph (map frame, z up)")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp))
    plt.close(fig)


def _top_view(xy: np.ndarray, rgb: np.ndarray, pixels: int = 800) -> tuple[np.ndarray, tuple[float, ...]]:
    """Points (N, 2) m with colours (N, 3) uint8 as an RGBA image (transparent where no point falls), at most
    ``pixels`` cells along the longer side, and its extent (x0, x1, y0, y1) m for ``imshow(origin="lower")``."""
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    cell = max(float((hi - lo).max()) / pixels, 1e-3)
    cols, rows = (np.floor((xy - lo) / cell).astype(int)).T
    image = np.zeros((rows.max() + 1, cols.max() + 1, 4), np.uint8)
    image[rows, cols, :3] = rgb
    image[rows, cols, 3] = 255
    return image, (lo[0], lo[0] + cell * image.shape[1], lo[1], lo[1] + cell * image.shape[0])
