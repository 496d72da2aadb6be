"""Records, camera maths, dense perception metrics, the NYU40 table and configuration. Depends on numpy, scipy and
pyyaml only."""

from m2h_slam.core.config import Config, InputConfig, load_config
from m2h_slam.core.errors import InputError, M2HError
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame, Prediction

__all__ = ["Config", "Frame", "InputConfig", "InputError", "Intrinsics", "M2HError", "Prediction", "load_config"]
