"""Live view of a run through rerun-sdk (``m2h-slam run --rerun``; install ``m2h-slam[viz]``)."""

from __future__ import annotations

from pathlib import Path

from m2h_slam.core.errors import InputError
from m2h_slam.core.labels import colourize
from m2h_slam.core.records import Frame, Prediction


class RerunViewer:
    """Logs each frame's image, depth, semantics and camera pose to a rerun viewer."""

    def __init__(self, application: str = "m2h-slam"):
        try:
            import rerun as rr
        except ImportError:
            raise InputError(Path("--rerun"), "rerun-sdk is not installed; pip install 'm2h-slam[viz]'") from None
        self.rr = rr
        rr.init(application, spawn=True)

    def __call__(self, frame: Frame, prediction: Prediction, result) -> None:
        rr = self.rr
        rr.set_time("frame", sequence=frame.index)
        pose = result.world_T_camera
        K = frame.intrinsics
        rr.log("world/camera", rr.Transform3D(translation=pose[:3, 3], mat3x3=pose[:3, :3]))
        rr.log("world/camera/image", rr.Pinhole(focal_length=[K.fx, K.fy], principal_point=[K.cx, K.cy],
                                                resolution=[K.width, K.height]))
        rr.log("world/camera/image/rgb", rr.Image(frame.rgb))
        rr.log("world/camera/image/depth", rr.DepthImage(prediction.depth_m, meter=1.0))
        rr.log("semantics", rr.Image(colourize(prediction.semantics)))
        rr.log("tracking", rr.TextLog(result.tracking))
