"""The one place that imports Open3D.

Open3D's Linux wheels link ``libusb-1.0.so.0``, which minimal machines lack. The
PyPI package ``libusb-package`` ships that library; we load it globally before
importing Open3D so the dynamic linker finds it. Use ``open3d()`` instead of
``import open3d`` everywhere.
"""

from __future__ import annotations

import ctypes
import functools
from types import ModuleType


@functools.cache
def open3d() -> ModuleType:
    """Import and return the ``open3d`` module, preloading libusb if it is available."""
    try:
        import libusb_package

        path = libusb_package.get_library_path()
        if path is not None:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    except (ImportError, OSError):
        pass  # fall back to the system library
    import open3d as o3d

    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)  # we report problems ourselves
    return o3d
