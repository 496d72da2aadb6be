"""Pictures a person can read: the preview sheets (at most 1 MB, a legend with the depth colour bar in metres and
the classes shown) and the scene-graph picture (800 px wide, a legend of rooms, object classes and agents)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import make_frames

from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import NUM_CLASSES, PALETTE
from m2h_slam.core.records import Frame, Prediction
from m2h_slam.formats.image_io import read_rgb
from m2h_slam.viz.contact_sheet import MAX_PREVIEW_BYTES, contact_sheet, depth_top_m, legend_panel, write_preview

TURBO = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_TURBO)[:, 0, ::-1]  # (256, 3) RGB


def _count(picture: np.ndarray, rgb, tolerance: int = 0) -> int:
    """Pixels within ``tolerance`` (per channel) of colour ``rgb``."""
    return int((np.abs(picture.astype(int) - np.asarray(rgb, float).round().astype(int)).max(axis=-1)
                <= tolerance).sum())


def _has_black_swatch(legend: np.ndarray) -> bool:
    """Whether ``legend`` holds a solid black square of 12 x 12 px (text strokes and outlines are thinner)."""
    black = (legend.max(axis=-1) == 0).astype(np.uint8)
    return bool(cv2.erode(black, np.ones((12, 12), np.uint8)).any())


def _classes_in(legend: np.ndarray) -> set[int]:
    """NYU40 ids (1..40) whose palette colour fills at least a 16 x 16 swatch of ``legend``; palette colours that
    the turbo colour bar also holds are left out."""
    turbo = {tuple(c) for c in TURBO.tolist()}
    return {c for c in range(1, NUM_CLASSES) if tuple(PALETTE[c].tolist()) not in turbo
            and _count(legend, PALETTE[c]) >= 16 * 16}


def _blocks(height: int, width: int, classes: list[int]) -> np.ndarray:
    """(H, W) uint8 labels: vertical bands, one per class."""
    return np.asarray(classes, np.uint8)[np.arange(width) * len(classes) // width][None, :].repeat(height, axis=0)


def _large_prediction(motorcycle) -> tuple[np.ndarray, Prediction]:
    """A 768 x 576 real image (with sensor-like noise) and a plausible prediction for it: depth from the stereo
    pair with noise and holes, five classes, noisy normals and soft edges."""
    rng = np.random.default_rng(0)
    size = (768, 576)
    rgb = cv2.resize(motorcycle.rgb, size, interpolation=cv2.INTER_LINEAR).astype(float)
    rgb = np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
    depth = cv2.resize(motorcycle.depth_m, size, interpolation=cv2.INTER_NEAREST)
    depth = np.where(depth > 0, depth + rng.normal(0, 0.01, depth.shape), 0).astype(np.float32)
    normals = rng.normal((0, 0, -1), 0.2, (576, 768, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    semantics = _blocks(576, 768, [1, 2, 5, 7, 31])
    edges = rng.uniform(0, 1, (576, 768)).astype(np.float32) ** 8
    return rgb, Prediction(depth, semantics, np.ones((576, 768), np.float32), normals, edges)


def test_predict_preview_of_a_large_frame_is_small_and_has_a_legend(tmp_path, motorcycle):
    from m2h_slam.perception.prediction_files import write_prediction

    rgb, prediction = _large_prediction(motorcycle)
    write_prediction(tmp_path, "im0", rgb, prediction)
    path = tmp_path / "im0_preview.png"
    assert path.stat().st_size <= MAX_PREVIEW_BYTES
    sheet = read_rgb(path)
    assert sheet.shape[1] <= 1280
    legend = legend_panel(sheet.shape[1], depth_top_m([prediction.depth_m]), [1, 2, 5, 7, 31], no_depth=True)
    assert np.array_equal(sheet[-len(legend):], legend)  # the legend, at full size, below the tiles
    tiles_h = len(sheet) - len(legend)
    assert tiles_h >= 2 * 576 * sheet.shape[1] / (2 * 768 + 4) - 4  # two rows of tiles above it, not squeezed
    assert _classes_in(legend) == {1, 2, 5, 7, 31}
    assert _count(legend, TURBO[0]) >= 16 and _count(legend, TURBO[255]) >= 16  # the colour bar, both ends
    assert _has_black_swatch(legend)  # "no depth"


def test_contact_sheet_shares_one_depth_range_and_lists_exactly_the_classes_shown():
    K = Intrinsics.from_fov(64, 48, 60.0)
    frames = [Frame(i, 0.0, np.full((48, 64, 3), 128, np.uint8), K, depth_m=np.full((48, 64), d, np.float32),
                    semantics=_blocks(48, 64, classes))
              for i, (d, classes) in enumerate([(3.0, [4, 5]), (6.0, [5, 14, 24])])]
    sheet = contact_sheet(frames)
    legend = legend_panel(sheet.shape[1], 6.0, [4, 5, 14, 24])
    assert np.array_equal(sheet[-len(legend):], legend)
    tiles = sheet[:-len(legend)]
    # One colour map over [0, 6] m for both frames: 3 m is the middle of the bar, 6 m its end.
    assert _count(tiles, TURBO[127]) == 48 * 64 and _count(tiles, TURBO[255]) == 48 * 64
    assert _classes_in(legend) == {4, 5, 14, 24}
    assert not _has_black_swatch(legend)  # no "no depth" swatch: every depth is valid
    grid = contact_sheet(frames, legend=False)
    assert np.array_equal(tiles[:, :grid.shape[1]], grid) and (tiles[:, grid.shape[1]:] == 255).all()


def test_run_preview_of_noise_stays_under_a_megabyte_with_its_legend(tmp_path):
    """Four 768 x 576 frames of noise (nothing compresses): the sheet is drawn narrower until the PNG fits, the
    legend keeps its size."""
    frames = make_frames(4, 768, 576)
    assert 1200 < contact_sheet(frames).shape[1] <= 1280  # five kinds of tile a row, shrunk to fit
    path = tmp_path / "preview.png"
    write_preview(path, lambda width_px: contact_sheet(frames, max_width_px=width_px))
    assert path.stat().st_size <= MAX_PREVIEW_BYTES
    sheet = read_rgb(path)
    assert 320 <= sheet.shape[1] < 1280
    classes = sorted(set().union(*(np.unique(f.semantics).tolist() for f in frames)))
    legend = legend_panel(sheet.shape[1], depth_top_m([f.depth_m for f in frames]), classes)
    assert np.array_equal(sheet[-len(legend):], legend)


def _graph() -> dict:
    """Three square rooms in a row, three chairs, a table and a bed, two agents walking across."""
    def room(k, kind):
        return {"id": k + 1, "type": kind, "footprint": [[4 * k, 0], [4 * k + 4, 0], [4 * k + 4, 4], [4 * k, 4]],
                "floor_z_m": 0.0, "ceiling_z_m": 2.6}

    def thing(i, cid, name, x, y):
        return {"id": i, "class_id": cid, "class_name": name, "room_id": 1 + int(x // 4),
                "box": {"center": [x, y, 0.4], "extent": [0.5, 0.5, 0.8], "yaw_rad": 0.0}}

    return {"format": "m2h-scene-graph", "version": 1,
            "rooms": [room(0, "bedroom"), room(1, "living room"), room(2, "kitchen")],
            "objects": [thing(1, 4, "bed", 1, 1), thing(2, 5, "chair", 5, 1), thing(3, 5, "chair", 7, 3),
                        thing(4, 7, "table", 6, 2), thing(5, 5, "chair", 10, 3)],
            "agents": [{"id": 1, "class_id": 31, "class_name": "person", "times_s": [0, 1, 2],
                        "positions": [[1, 2, 0], [6, 2.5, 0], [11, 2, 0]]},
                       {"id": 2, "class_id": 31, "class_name": "person", "times_s": [0, 1],
                        "positions": [[10, 1, 0], [2, 3, 0]]}],
            "places": []}


def _legend_text_rows(legend: np.ndarray) -> list[int]:
    """Heights (px) of the bands of rows holding dark (text or outline) pixels."""
    dark = (legend.max(axis=-1) < 100).any(axis=1)
    edges = np.flatnonzero(np.diff(np.r_[0, dark.astype(int), 0]))
    return (edges[1::2] - edges[::2]).tolist()


def test_scene_graph_picture_has_a_readable_legend_beside_the_map(tmp_path):
    import matplotlib

    from m2h_slam.viz.graph_picture import draw_scene_graph

    boxes = draw_scene_graph(_graph(), tmp_path / "scene_graph.png")
    picture = read_rgb(tmp_path / "scene_graph.png")
    assert picture.shape[1] >= 800
    (mx0, my0, mx1, my1), (lx0, ly0, lx1, ly1) = boxes["map_px"], boxes["legend_px"]
    assert my1 <= ly0 and 0 <= lx0 < lx1 <= picture.shape[1] and ly1 <= picture.shape[0]  # below the map
    assert mx1 - mx0 > 600  # the map keeps its size (12 m x 4 m: as wide as it can be)
    legend = picture[ly0:ly1, lx0:lx1]
    tab10 = matplotlib.colormaps["tab10"]
    # Rooms: a swatch of each room's fill (25 % of its tab10 colour on white), none for a fourth.
    for k in range(3):
        assert _count(legend, 255 * (0.75 + 0.25 * np.array(tab10(k)[:3])), 3) >= 40, k
    assert _count(legend, 255 * (0.75 + 0.25 * np.array(tab10(3)[:3])), 3) == 0
    # Objects: a marker per class present (bed, chair, table), none for other classes.
    for class_id in (4, 5, 7):
        assert _count(legend, PALETTE[class_id], 12) >= 10, class_id
    for class_id in (14, 23, 29, 40):  # (not cabinet, refrigerator, toilet: the same colours as agents C0-C2)
        assert _count(legend, PALETTE[class_id], 12) == 0, class_id
    # On the map: one marker per object (bed, three chairs, table), none hidden under agents or labels.
    from scipy import ndimage

    map_area = picture[my0:my1, mx0:mx1]
    for class_id, count in ((4, 1), (5, 3), (7, 1)):
        blobs, n = ndimage.label(np.abs(map_area.astype(int) - PALETTE[class_id]).max(axis=-1) <= 12)
        sizes = np.bincount(blobs.ravel(), minlength=n + 1)[1:]
        assert (sizes >= 12).sum() == count, (class_id, sizes)  # (single pixels: line edges blended with white)
    # Agents: a line sample in each agent's colour (C0, C1), none in C2.
    for k in range(2):
        assert _count(legend, 255 * np.array(matplotlib.colors.to_rgb(f"C{k}")), 40) >= 20, k
    assert _count(legend, 255 * np.array(matplotlib.colors.to_rgb("C2")), 40) == 0
    # Text at a readable size: rows of 9-25 px, at least a header and three room rows.
    rows = _legend_text_rows(legend[4:-4, 4:-4])
    assert len(rows) >= 4 and 9 <= np.median(rows) <= 25, rows


@pytest.mark.parametrize("n_rooms, n_classes", [(12, 30), (0, 0)])
def test_scene_graph_legend_fits_the_width_or_is_absent(tmp_path, n_rooms, n_classes):
    """Many rooms and classes: the legend takes longer columns, never wider than the picture; an empty graph
    has none."""
    from m2h_slam.core.labels import NYU40
    from m2h_slam.viz.graph_picture import draw_scene_graph

    rooms = [{"id": k + 1, "type": "living room", "footprint": [[k, 0], [k + 1, 0], [k + 1, 1], [k, 1]],
              "floor_z_m": 0.0, "ceiling_z_m": 2.6} for k in range(n_rooms)]
    objects = [{"id": c, "class_id": c, "class_name": NYU40[c].name, "room_id": None,
                "box": {"center": [0.3 * c, 0.5, 0.4], "extent": [0.2, 0.2, 0.2], "yaw_rad": 0.0}}
               for c in range(3, 3 + n_classes)]
    boxes = draw_scene_graph({"rooms": rooms, "objects": objects, "agents": []}, tmp_path / "g.png")
    picture = read_rgb(tmp_path / "g.png")
    assert picture.shape[1] == 800
    if n_rooms:
        x0, y0, x1, y1 = boxes["legend_px"]
        assert 0 <= x0 and x1 <= picture.shape[1] and y1 <= picture.shape[0]
        legend = picture[y0:y1, x0:x1]
        assert all(_count(legend, PALETTE[c], 12) >= 10 for c in range(3, 3 + n_classes))
    else:
        assert boxes["legend_px"] is None and picture.shape[0] == 800
