"""m2h-slam: monocular spatial perception (M2H network, odometry, TSDF, scene graph).

Importing the package does not import torch or open3d; stages import them when used.
"""

__version__ = "0.1.0"
