"""The packages import without torch (the back end must run on torch-free boxes)."""

import subprocess
import sys

BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is hidden in this test")
sys.meta_path.insert(0, Block())
import m2h_slam, m2h_slam.core, m2h_slam.sources, m2h_slam.sources.samples, m2h_slam.cli, pipeline
from m2h_slam.core import geometry, labels, config
assert "torch" not in sys.modules
print("ok")
"""


def test_import_without_torch():
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_plain_import_does_not_load_torch_or_open3d():
    code = "import sys, m2h_slam, pipeline, m2h_slam.sources; print('torch' in sys.modules, 'open3d' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_open3d_loads_through_the_one_loader():
    from m2h_slam.core.o3d import open3d

    o3d = open3d()
    mesh = o3d.geometry.TriangleMesh.create_box()
    assert len(mesh.vertices) == 8
