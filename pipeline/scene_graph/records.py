"""Typed records of the scene graph's object and agent layers (map frame: metres, z up)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ObjectRecord:
    """A static object. centroid, box_center, extent (w, d, h in the box frame): (3,) m; yaw_rad about z."""

    id: int
    class_id: int
    centroid: np.ndarray
    box_center: np.ndarray
    extent: np.ndarray
    yaw_rad: float
    points: int
    observations: int
    first_seen_s: float
    last_seen_s: float
    confidence: float
    moved: tuple[dict, ...] = ()  # {"time_s", "from": (3,), "to": (3,)} each time it was seen moved
    aabb: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # axis-aligned box (min xyz, max xyz) m
    class_confidence: float = 1.0  # share of the map's fused label evidence in its cells that is its class


@dataclass(frozen=True)
class AgentRecord:
    """A moving agent (a person). times_s (N,), positions (N, 3) m: the foot point at each time."""

    id: int
    class_id: int
    times_s: np.ndarray
    positions: np.ndarray
    active: bool = True
