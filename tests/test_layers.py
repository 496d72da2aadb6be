"""The layer rule of the design, over packages: an import never points up (function-level imports too).

Every module under ``m2h_slam/`` and ``pipeline/`` belongs to exactly one layer of ``LAYERS``; a module in a
package the table does not know fails the test, so a new package cannot slip past the rule.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: lowest first; a module may import its own layer and the layers before it (packages: every module below them)
LAYERS = (
    ("core", ("m2h_slam.core",)),
    ("formats", ("m2h_slam.formats",)),
    ("viz", ("m2h_slam.viz",)),
    ("sources", ("m2h_slam.sources",)),
    ("synthetic", ("m2h_slam.synthetic",)),
    ("dataset tools", ("m2h_slam.dataset_tools",)),
    ("mapping", ("pipeline.mapping",)),
    ("scene graph", ("pipeline.scene_graph",)),
    ("perception", ("m2h_slam.perception",)),
    ("train", ("m2h_slam.train",)),
    ("eval", ("m2h_slam.eval",)),
    ("application", ("m2h_slam.app",)),
)
#: the only modules outside those packages, with their layer
LOOSE = {"pipeline": "scene graph", "pipeline.scene_mapper": "scene graph", "m2h_slam": "application", "m2h_slam.cli": "application"}
NAMES = [name for name, _ in LAYERS]
TORCH = ("torch", "timm", "torchvision", "onnx", "onnxruntime", "tensorboard")
#: third-party imports and the lowest layer that may use them
THIRD_PARTY = {("cv2", "evo"): "formats", ("networkx", "spark_dsg"): "scene graph", ("ray",): "application"}
#: the only layers that may import torch (the rest of the tree, pipeline/ and eval included, stays torch-free)
TORCH_LAYERS = ("perception", "train", "application")


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> int | None:
    """Index in LAYERS of a project module; None for a module outside the table (third party or unplaced)."""
    if module in LOOSE:
        return NAMES.index(LOOSE[module])
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(_matches(module, prefix) for prefix in prefixes):
            return index
    return None


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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


def violations(root: Path = ROOT) -> list[str]:
    """Every upward import, every third-party import below its layer, and every module no layer holds."""
    bad = []
    for top in ("m2h_slam", "pipeline"):
        for path in sorted((root / top).rglob("*.py")):
            where = path.relative_to(root)
            own = layer_of(module_name(path, root))
            if own is None:
                bad.append(f"{where}: in no layer (add its package to LAYERS)")
                continue
            for line, module in imports_of(path, root):
                target = layer_of(module)
                if target is not None and target > own:
                    bad.append(f"{where}:{line} ({NAMES[own]}) imports {module} ({NAMES[target]})")
                for family, lowest in THIRD_PARTY.items():
                    if any(_matches(module, p) for p in family) and own < NAMES.index(lowest):
                        bad.append(f"{where}:{line} ({NAMES[own]}) imports {module} (allowed from {lowest} on)")
                if any(_matches(module, p) for p in TORCH) and NAMES[own] not in TORCH_LAYERS:
                    bad.append(f"{where}:{line} ({NAMES[own]}) imports {module} (a torch-free layer)")
    return bad


def test_no_import_points_up():
    assert violations() == []


def test_every_layer_has_modules():
    for name, prefixes in LAYERS:
        folder = ROOT / Path(*prefixes[0].split("."))
        assert folder.is_dir() or folder.with_suffix(".py").is_file(), name


PROBE = ("def f():\n    import torch\n    from m2h_slam.perception.model import create_model\n"
         "    from ..scene_graph import graph\n    from m2h_slam.app.run_loop import run\n")


@pytest.mark.parametrize("planted, expected", [
    ("m2h_slam/sources/probe.py", ["2 (sources) imports torch (a torch-free layer)",
                                   "3 (sources) imports m2h_slam.perception.model (perception)",
                                   "5 (sources) imports m2h_slam.app.run_loop (application)"]),
    ("pipeline/mapping/probe.py", ["2 (mapping) imports torch (a torch-free layer)",
                                   "3 (mapping) imports m2h_slam.perception.model (perception)",
                                   "4 (mapping) imports pipeline.scene_graph (scene graph)",
                                   "5 (mapping) imports m2h_slam.app.run_loop (application)"]),
    ("pipeline/scene_graph/probe.py", ["2 (scene graph) imports torch (a torch-free layer)",
                                       "3 (scene graph) imports m2h_slam.perception.model (perception)",
                                       "5 (scene graph) imports m2h_slam.app.run_loop (application)"]),
    ("m2h_slam/eval/probe.py", ["2 (eval) imports torch (a torch-free layer)",
                                "5 (eval) imports m2h_slam.app.run_loop (application)"]),
])
def test_the_check_sees_violations(tmp_path, planted, expected):
    """The checker itself: planted upward imports (function level, relative) are reported with their lines."""
    for top in ("m2h_slam", "pipeline"):
        (tmp_path / top).mkdir()
    probe = tmp_path / planted
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text(PROBE)
    assert violations(tmp_path) == [f"{planted}:{line}" for line in expected]


@pytest.mark.parametrize("planted", ["m2h_slam/newpackage/probe.py", "m2h_slam/loose_module.py",
                                     "pipeline/stray.py"])
def test_a_module_outside_every_layer_fails(tmp_path, planted):
    for top in ("m2h_slam", "pipeline"):
        (tmp_path / top).mkdir()
    probe = tmp_path / planted
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text("import numpy\n")
    assert violations(tmp_path) == [f"{planted}: in no layer (add its package to LAYERS)"]
