"""``MapView``: what the stages beside the mapper (the scene graph) may read of the map, and nothing else.

    view = mapper.view()
    points, (tsdf, labels) = view.voxels("tsdf", "label")   # (N, 3) m world frame; (N,) per attribute
    view.camera_positions()                                   # (F, 3) m, world frame, one per frame so far
    view.first_camera()                                       # (4, 4) world_T_camera of the first frame
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MapView:
    """A read-only view of the map: voxels, camera positions and the fusion geometry (m). Arrays it returns
    are copies; the view holds no mapper state of its own and stays current as the mapper goes on."""

    _volume: object  # pipeline.mapping.fusion.SemanticTSDF
    _poses: Callable[[], np.ndarray]  # () -> (F, 4, 4) world_T_camera of the frames mapped so far
    voxel_size_m: float
    truncation_m: float

    def voxels(self, *names: str) -> tuple[np.ndarray, list[np.ndarray]]:
        """(positions (N, 3) m, [attribute (N,) or (N, 3) per name]) of the observed voxels, in a canonical order.
        Names: ``tsdf``, ``weight``, ``label``, ``evidence``, ``normal_sum``, ``color`` (see ``SemanticTSDF``)."""
        return self._volume.voxel_table(*names)

    def camera_positions(self) -> np.ndarray:
        """(F, 3) float64 camera centres (m, world frame) of the frames mapped so far."""
        return self._poses()[:, :3, 3]

    def first_camera(self) -> np.ndarray | None:
        """(4, 4) world_T_camera of the first frame mapped, or None before it."""
        poses = self._poses()
        return poses[0] if len(poses) else None
