"""The NYU40 class table: ids 1..40, 0 = unknown (41 classes, as the M2H semantic head).

Colours are the usual NYU40 / ScanNet palette. Flags: ``structure`` (walls, floors, ...
that bound rooms), ``object`` (things that become object nodes), ``dynamic`` (classes
that move on their own and are masked out of the map).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_CLASSES = 41
UNKNOWN = 0


@dataclass(frozen=True)
class ClassInfo:
    """One NYU40 class; ``colour`` is RGB uint8."""

    id: int
    name: str
    colour: tuple[int, int, int]
    structure: bool = False
    object: bool = False
    dynamic: bool = False


_S, _O, _D = "structure", "object", "dynamic"
_TABLE = [
    (0, "unknown", (0, 0, 0), ()),
    (1, "wall", (174, 199, 232), (_S,)),
    (2, "floor", (152, 223, 138), (_S,)),
    (3, "cabinet", (31, 119, 180), (_O,)),
    (4, "bed", (255, 187, 120), (_O,)),
    (5, "chair", (188, 189, 34), (_O,)),
    (6, "sofa", (140, 86, 75), (_O,)),
    (7, "table", (255, 152, 150), (_O,)),
    (8, "door", (214, 39, 40), (_S,)),
    (9, "window", (197, 176, 213), (_S,)),
    (10, "bookshelf", (148, 103, 189), (_O,)),
    (11, "picture", (196, 156, 148), (_O,)),
    (12, "counter", (23, 190, 207), (_O,)),
    (13, "blinds", (178, 76, 76), (_S,)),
    (14, "desk", (247, 182, 210), (_O,)),
    (15, "shelves", (66, 188, 102), (_O,)),
    (16, "curtain", (219, 219, 141), (_O,)),
    (17, "dresser", (140, 57, 197), (_O,)),
    (18, "pillow", (202, 185, 52), (_O,)),
    (19, "mirror", (51, 176, 203), (_O,)),
    (20, "floor mat", (200, 54, 131), (_O,)),
    (21, "clothes", (92, 193, 61), (_O,)),
    (22, "ceiling", (78, 71, 183), (_S,)),
    (23, "books", (172, 114, 82), (_O,)),
    (24, "refrigerator", (255, 127, 14), (_O,)),
    (25, "television", (91, 163, 138), (_O,)),
    (26, "paper", (153, 98, 156), (_O,)),
    (27, "towel", (140, 153, 101), (_O,)),
    (28, "shower curtain", (158, 218, 229), (_O,)),
    (29, "box", (100, 125, 154), (_O,)),
    (30, "whiteboard", (178, 127, 135), (_O,)),
    (31, "person", (120, 185, 128), (_D,)),
    (32, "night stand", (146, 111, 194), (_O,)),
    (33, "toilet", (44, 160, 44), (_O,)),
    (34, "sink", (112, 128, 144), (_O,)),
    (35, "lamp", (96, 207, 209), (_O,)),
    (36, "bathtub", (227, 119, 194), (_O,)),
    (37, "bag", (213, 92, 176), (_O,)),
    (38, "otherstructure", (94, 106, 211), (_S,)),
    (39, "otherfurniture", (82, 84, 163), (_O,)),
    (40, "otherprop", (100, 85, 144), (_O,)),
]

NYU40: tuple[ClassInfo, ...] = tuple(
    ClassInfo(i, name, colour, _S in flags, _O in flags, _D in flags) for i, name, colour, flags in _TABLE
)
_BY_NAME = {c.name: c for c in NYU40}

#: (41, 3) uint8 RGB colour of each class id.
PALETTE = np.array([c.colour for c in NYU40], dtype=np.uint8)
#: (41,) bool lookup tables by class id.
IS_STRUCTURE = np.array([c.structure for c in NYU40])
IS_OBJECT = np.array([c.object for c in NYU40])
IS_DYNAMIC = np.array([c.dynamic for c in NYU40])


def class_id(name: str) -> int:
    """NYU40 id of a class name (e.g. ``"chair"`` -> 5)."""
    try:
        return _BY_NAME[name].id
    except KeyError:
        raise KeyError(f"unknown NYU40 class {name!r}") from None


def colourize(labels: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB image of an (H, W) NYU40 label map; ids above 40 show as unknown."""
    labels = np.asarray(labels)
    return PALETTE[np.where((labels >= 0) & (labels < NUM_CLASSES), labels, UNKNOWN)]


def semantic_edges(semantics: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
    """(H, W) uint8: 1 where the (class, instance) pair differs from the right or lower neighbour (instance ids
    compared modulo 2^16)."""
    key = semantics.astype(np.int32) << 16
    if instances is not None:
        key |= instances.astype(np.int32) & 0xFFFF
    edges = np.zeros(key.shape, np.uint8)
    edges[:, :-1] |= key[:, :-1] != key[:, 1:]
    edges[:-1, :] |= key[:-1, :] != key[1:, :]
    return edges
