"""The layer rule of the design: an import never points up (checked on the source, function-level imports too).

    core  <  data  <  pipeline  <  model / inference / train  <  eval  <  runner, cli
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ABOVE_CORE = ("m2h_slam.data", "m2h_slam.model", "m2h_slam.inference", "m2h_slam.train", "m2h_slam.eval",
              "m2h_slam.runner", "m2h_slam.run_state", "m2h_slam.cli", "m2h_slam.viz_rerun", "pipeline")
TORCH = ("torch", "timm", "torchvision", "onnx", "onnxruntime")
#: package folder -> import prefixes it must not use
FORBIDDEN = {
    "m2h_slam/core": ABOVE_CORE + TORCH + ("cv2", "networkx", "evo"),
    "m2h_slam/data": tuple(p for p in ABOVE_CORE if p != "m2h_slam.data") + TORCH,
    "pipeline": ("m2h_slam.model", "m2h_slam.inference", "m2h_slam.train", "m2h_slam.eval", "m2h_slam.runner",
                 "m2h_slam.run_state", "m2h_slam.cli") + TORCH,
    "m2h_slam/model": ("pipeline", "m2h_slam.eval", "m2h_slam.runner", "m2h_slam.run_state", "m2h_slam.cli"),
    "m2h_slam/inference": ("pipeline", "m2h_slam.eval", "m2h_slam.runner", "m2h_slam.run_state", "m2h_slam.cli"),
    "m2h_slam/train": ("pipeline", "m2h_slam.eval", "m2h_slam.runner", "m2h_slam.run_state", "m2h_slam.cli"),
    "m2h_slam/eval": ("m2h_slam.runner", "m2h_slam.run_state", "m2h_slam.cli") + TORCH,
}


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.append((node.lineno, base))
    return found


def _violations(folder: str, forbidden: tuple[str, ...], root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted((root / folder).rglob("*.py")):
        for line, module in imports_of(path, root):
            if any(module == p or module.startswith(p + ".") for p in forbidden):
                bad.append(f"{path.relative_to(root)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_import_points_up(folder):
    assert (ROOT / folder).is_dir()
    assert _violations(folder, FORBIDDEN[folder]) == []


def test_the_check_sees_violations(tmp_path):
    """The checker itself: planted upward imports (function level, relative) are reported."""
    (tmp_path / "m2h_slam" / "data").mkdir(parents=True)
    (tmp_path / "m2h_slam" / "data" / "probe.py").write_text(
        "def f():\n    import torch\n    from ..model import create_model\n    from . import image_io\n")
    bad = _violations("m2h_slam/data", FORBIDDEN["m2h_slam/data"], tmp_path)
    assert bad == ["m2h_slam/data/probe.py:2 imports torch", "m2h_slam/data/probe.py:3 imports m2h_slam.model"]
