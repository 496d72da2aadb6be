"""The scene graph from above (``scene_graph.png``): rooms coloured and named, objects as markers in their
class colour, the places graph faint, agent trajectories as lines from a circle (start) to a square (end),
and below the map a legend of the rooms, object classes and agents shown. Drawn from the scene-graph JSON;
800 px wide, text at 7-10 pt (10-14 px)."""

from __future__ import annotations

import os
from collections import Counter

import numpy as np

from m2h_slam.core.atomic import atomic_write
from m2h_slam.core.labels import NYU40, PALETTE

WIDTH_IN, MAP_IN, DPI = 8.0, 8.0, 100  # 800 px wide; the map block at most 800 px high
LEGEND_FONT_PT = 10
_LEGEND_COLUMNS = 4
# Map block margins (in): left, right, top, bottom (tick labels, axis labels, title).
_LEFT_IN, _RIGHT_IN, _TOP_IN, _BOTTOM_IN = 0.75, 0.2, 0.45, 0.55


def draw_scene_graph(data: dict, path: str | os.PathLike, mesh_xy: np.ndarray | None = None,
                     mesh_rgb: np.ndarray | None = None) -> dict[str, tuple[int, int, int, int] | None]:
    """Write a top-down PNG of a scene-graph document; ``mesh_xy`` (N, 2) m with ``mesh_rgb`` (N, 3) uint8
    draws the map underneath (points below 1.8 m). Returns the pixel boxes (x0, y0, x1, y1), row 0 at the
    top, of the map (``"map_px"``) and the legend (``"legend_px"``, None when the graph is empty)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    fig = plt.figure(figsize=(WIDTH_IN, MAP_IN), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    if mesh_xy is not None and len(mesh_xy):
        image, extent = _top_view(np.asarray(mesh_xy, float), np.asarray(mesh_rgb, np.uint8))
        ax.imshow(image, extent=extent, origin="lower", interpolation="nearest", zorder=1)
    for k, room in enumerate(data.get("rooms", [])):
        footprint = np.array(room["footprint"])
        colour = _room_colour(k)
        ax.add_patch(Polygon(footprint, closed=True, alpha=0.25, color=colour, zorder=0))
        centre = room.get("centroid", footprint.mean(axis=0))
        ax.text(*centre[:2], _room_label(room), ha="center", fontsize=10, weight="bold", zorder=5)
    places = {p["id"]: p["position"] for p in data.get("places", [])}
    for place in data.get("places", []):
        for other in place["neighbours"]:
            if other > place["id"]:
                a, b = places[place["id"]], places[other]
                ax.plot([a[0], b[0]], [a[1], b[1]], color="0.6", linewidth=0.4, zorder=2)
    for obj in data.get("objects", []):
        centre = obj.get("centroid", obj["box"]["center"])
        ax.scatter([centre[0]], [centre[1]], s=30, color=PALETTE[obj["class_id"]] / 255.0, edgecolors="k", zorder=4)
        ax.annotate(obj["class_name"], centre[:2], xytext=(0, 4), textcoords="offset points", ha="center",
                    va="bottom", fontsize=7, zorder=5)
    for k, agent in enumerate(data.get("agents", [])):
        positions = np.array(agent["positions"]).reshape(-1, 3)
        if not len(positions):
            continue
        colour = _agent_colour(k)
        ax.plot(positions[:, 0], positions[:, 1], color=colour, linewidth=1.2, zorder=3)
        ax.scatter(*positions[0, :2], marker="o", s=45, color=colour, edgecolors="k", zorder=3)  # under objects
        ax.scatter(*positions[-1, :2], marker="s", s=45, color=colour, edgecolors="k", zorder=3)
        ax.annotate(f"agent {agent['id']}", positions[-1, :2], xytext=(6, 4), textcoords="offset points",
                    fontsize=8, zorder=5)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    title, colour = picture_title(data)
    ax.set_title(title, color=colour, fontsize=10 if colour != "black" else None)
    legend, legend_in = None, 0.0
    renderer = fig.canvas.get_renderer()  # lays out the legend alone (a full draw of the map costs 0.3 s)
    for columns in range(_LEGEND_COLUMNS, 0, -1):  # fewer, longer columns while it is wider than the picture
        legend = _legend(fig, data, columns)
        if legend is None:
            break
        extent = legend.get_window_extent(renderer)
        legend_in = extent.height / DPI + 0.2
        if extent.width <= (WIDTH_IN - 0.2) * DPI or columns == 1:
            break
        legend.remove()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    map_w_in, most_h_in = WIDTH_IN - _LEFT_IN - _RIGHT_IN, MAP_IN - _TOP_IN - _BOTTOM_IN
    map_h_in = float(np.clip(map_w_in * abs(y1 - y0) / max(abs(x1 - x0), 1e-9), 1.5, most_h_in))
    _place(fig, ax, legend, legend_in, map_h_in)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI))  # draws the figure: the boxes below are final
    height_px = fig.get_size_inches()[1] * DPI
    boxes = {"map_px": _pixel_box(ax.get_window_extent(), height_px),
             "legend_px": _pixel_box(legend.get_window_extent(), height_px) if legend is not None else None}
    plt.close(fig)
    return boxes


def _room_colour(k: int) -> tuple[float, float, float]:
    import matplotlib

    return tuple(matplotlib.colormaps["tab10"](k % 10)[:3])


def _agent_colour(k: int) -> tuple[float, float, float]:
    import matplotlib.colors

    return matplotlib.colors.to_rgb(f"C{k % 10}")


def _room_label(room: dict) -> str:
    return f"{room.get('type') or 'room'} {room['id']}"


def _legend(fig, data: dict, columns: int):
    """The legend (a figure legend, not yet placed) in at most ``columns`` columns, headed "rooms", "objects",
    "agents", for what is drawn; None when nothing is."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    sections = []
    rooms = [(Patch(facecolor=(*_room_colour(k), 0.25), edgecolor="0.5", linewidth=0.8), _room_label(r))
             for k, r in enumerate(data.get("rooms", []))]
    sections.append(("rooms", rooms))
    counts = Counter(o["class_id"] for o in data.get("objects", []))
    objects = [(Line2D([], [], linestyle="", marker="o", markersize=6, markerfacecolor=PALETTE[c] / 255.0,
                       markeredgecolor="k"), f"{NYU40[c].name} ({n})") for c, n in sorted(counts.items())]
    sections.append(("objects", objects))
    agents = [(Line2D([], [], color=_agent_colour(k), linewidth=2), f"agent {a['id']} ({a.get('class_name', '')})")
              for k, a in enumerate(data.get("agents", [])) if len(a["positions"])]
    if agents:
        agents += [(Line2D([], [], linestyle="", marker=m, markersize=7, markerfacecolor="w", markeredgecolor="k"),
                    label) for m, label in (("o", "start"), ("s", "end"))]
    sections.append(("agents", agents))
    sections = [(title, entries) for title, entries in sections if entries]
    if not sections:
        return None
    columns, rows = max(columns, len(sections)), 1
    while sum(-(-len(entries) // rows) for _, entries in sections) > columns:
        rows += 1
    handles, labels, headers = [], [], []
    for title, entries in sections:
        for start in range(0, len(entries), rows):
            chunk = entries[start:start + rows]
            headers.append(len(labels))
            handles.append(Patch(visible=False))
            labels.append(title if start == 0 else "")
            chunk += [(Patch(visible=False), "")] * (rows - len(chunk))
            handles += [h for h, _ in chunk]
            labels += [t for _, t in chunk]
    legend = fig.legend(handles, labels, ncol=len(headers), fontsize=LEGEND_FONT_PT, loc="upper left",
                        frameon=True, edgecolor="0.7", handlelength=1.6, columnspacing=1.2, borderaxespad=0)
    for index in headers:
        legend.get_texts()[index].set_fontweight("bold")
    return legend


def _place(fig, ax, legend, legend_in: float, map_h_in: float) -> None:
    """Size the figure to the map (``map_h_in`` inches high, with its margins) above ``legend_in`` inches of
    legend; put the map and legend there."""
    height_in = _TOP_IN + map_h_in + _BOTTOM_IN + legend_in
    fig.set_size_inches(WIDTH_IN, height_in)
    ax.set_position((_LEFT_IN / WIDTH_IN, (legend_in + _BOTTOM_IN) / height_in,
                     (WIDTH_IN - _LEFT_IN - _RIGHT_IN) / WIDTH_IN, map_h_in / height_in))
    if legend is not None:
        legend.set_bbox_to_anchor((0.1 / WIDTH_IN, (legend_in - 0.1) / height_in), transform=fig.transFigure)


def _pixel_box(extent, height_px: float) -> tuple[int, int, int, int]:
    """A display bounding box (px, origin bottom left) as image pixels (x0, y0, x1, y1), origin top left."""
    return (int(np.floor(extent.x0)), int(np.floor(height_px - extent.y1)), int(np.ceil(extent.x1)),
            int(np.ceil(height_px - extent.y0)))


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


def picture_title(data: dict) -> tuple[str, str]:
    """The picture's title and its colour: the frame, and the run's perception verdict when it is not ok (red)."""
    upright = data.get("map_frame", {}).get("gravity_aligned", True)
    title = "scene graph (map frame, z up)" if upright else "scene graph (first camera's frame: no floor seen)"
    verdict = data.get("health", {}).get("verdict", "ok")
    if verdict == "ok":
        return title, "black"
    return f"{title}\nperception {verdict.upper()}: treat rooms, objects and agents as hints (run.json: health)", "red"

