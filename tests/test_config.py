"""Strict YAML configs."""

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from m2h_slam.core.config import (
    WRITE_DEFAULT,
    Config,
    config_from_dict,
    config_to_dict,
    default_yaml,
    field_docs,
    load_config,
)
from m2h_slam.core.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_is_generated_from_the_dataclasses():
    """configs/default.yaml is the current output of ``default_yaml`` and loads as the defaults."""
    path = ROOT / "configs" / "default.yaml"
    assert path.read_text(encoding="utf-8") == default_yaml(), f"configs/default.yaml is stale: run {WRITE_DEFAULT}"
    assert load_config(path) == Config()


def test_default_yaml_comments_come_from_the_field_docs():
    text = default_yaml()
    assert "  voxel_size_m: 0.05\n" in text
    assert "  block_resolution: 8          # voxels per block side\n" in text  # the comment on the field's line
    assert "  # One Open3D thread: smaller run-to-run differences" in text  # comment lines above the field
    assert "  weights: null                # our .safetensors, an official .pt, or .onnx; null = " in text
    assert all(len(line) <= 120 for line in text.splitlines())
    docs = field_docs(Config.__dataclass_fields__["odometry"].default_factory)
    assert docs["depth_max_m"] == "" and docs["iterations"] == "per pyramid level, finest first"
    assert docs["method"].startswith("auto: intensity for predicted depth") and docs["method"].endswith("step only.")


def _schema(path: Path) -> type:
    """The config class of a YAML file under configs/ (configs/train: ``TrainConfig``)."""
    if path.parent.name == "train":
        from m2h_slam.train.trainer import TrainConfig

        return TrainConfig
    assert path.parent == ROOT / "configs", f"no config class known for {path}"
    return Config


PRESETS = sorted((ROOT / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_every_yaml_under_configs_loads_with_its_config_class(path):
    """Each file loads strictly (an unknown key, wrong type or value out of range fails here) into its class."""
    schema = _schema(path)
    assert isinstance(load_config(path, schema), schema)


def test_presets_include_the_training_configs():
    assert {p.parent.name for p in PRESETS} == {"configs", "train"}


def test_partial_file_overrides_one_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("input:\n  default_fov_deg: 75\n")
    config = load_config(path)
    assert config.input.default_fov_deg == 75.0 and isinstance(config.input.default_fov_deg, float)
    assert config.input.image_fps == Config().input.image_fps


def test_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("input:\n  default_fov: 75\n")
    with pytest.raises(InputError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: unknown config key 'input.default_fov' (did you mean 'default_fov_deg'?)"


def test_wrong_type_names_key_and_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("input:\n  image_fps: fast\n")
    with pytest.raises(InputError, match=r"c.yaml: config key 'input.image_fps': expected a number, got 'fast'"):
        load_config(path)


def test_bad_yaml_and_missing_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("input: [unclosed\n")
    with pytest.raises(InputError, match="invalid YAML at line"):
        load_config(path)
    with pytest.raises(InputError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@dataclass(frozen=True)
class _Inner:
    size: tuple[int, int] = (1, 2)
    name: str | None = None


@dataclass(frozen=True)
class _Outer:
    inner: _Inner = field(default_factory=_Inner)
    flag: bool = False
    values: tuple[float, ...] = ()


def test_nested_tuples_optionals_and_bools():
    config = config_from_dict({"inner": {"size": [3, 4], "name": None}, "flag": True, "values": [1, 2.5]}, _Outer)
    assert config == _Outer(_Inner((3, 4), None), True, (1.0, 2.5))
    assert config_to_dict(config) == {"inner": {"size": [3, 4], "name": None}, "flag": True, "values": [1.0, 2.5]}
    with pytest.raises(InputError, match="'inner.size': expected a list of 2 values"):
        config_from_dict({"inner": {"size": [3]}}, _Outer)
    with pytest.raises(InputError, match="'flag': expected bool, got 1"):
        config_from_dict({"flag": 1}, _Outer)
    with pytest.raises(InputError, match="'inner.size': expected an integer, got 2.5"):
        config_from_dict({"inner": {"size": [1, 2.5]}}, _Outer)


def _ranged_fields():
    """(section, field, annotation text) of every config value declared with a range."""
    config = Config()
    for section in dataclasses.fields(Config):
        schema = type(getattr(config, section.name))
        hints = typing.get_type_hints(schema)
        for f in dataclasses.fields(schema):
            if "range" in f.metadata:
                yield section.name, f, str(hints[f.name])


@pytest.mark.parametrize("section, f, hint", list(_ranged_fields()), ids=lambda v: getattr(v, "name", str(v)))
def test_every_ranged_value_is_checked_where_it_is_parsed(tmp_path, section, f, hint):
    """Just outside its range, and NaN, each value is an error naming the key and the file; the default passes."""
    allowed = f.metadata["range"]
    outside = allowed.low - 1 if allowed.low is not None else allowed.high + 1
    numbers = [int(outside)] if "int" in hint else [outside, float("nan")]
    for number in numbers:
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({section: {f.name: [number, number] if "tuple" in hint else number}}))
        with pytest.raises(InputError) as error:
            load_config(path)
        assert str(error.value).startswith(f"{path}: config key '{section}.{f.name}'"), str(error.value)
    assert allowed.problem(getattr(getattr(Config(), section), f.name)) is None


def test_ranges_apply_to_configs_built_in_code():
    from m2h_slam.core.config import ConfigValueError, FusionConfig

    with pytest.raises(ConfigValueError, match="voxel_size_m must be in"):
        FusionConfig(voxel_size_m=0.0)
    with pytest.raises(ConfigValueError, match="finite"):
        dataclasses.replace(FusionConfig(), truncation_m=float("inf"))


def test_settings_of_the_other_stages_are_checked_the_same_way():
    """Training, network, data-set evaluation and synthetic-world settings are ``Checked`` dataclasses: a value out
    of its range is a ``ConfigValueError`` naming the field, wherever the object is built."""
    from m2h_slam.app.dataset_eval import EvalSettings
    from m2h_slam.core.config import Checked, ConfigValueError
    from m2h_slam.perception.model.config import M2HConfig
    from m2h_slam.perception.model.registry import get_config
    from m2h_slam.synthetic.world import WorldSpec

    for bad, message in [(lambda: WorldSpec(rooms=7), "rooms must be in [2, 6], got 7"),
                         (lambda: WorldSpec(fps=float("nan")), "fps must be a finite number"),
                         (lambda: EvalSettings(stride=0), "stride must be at least 1, got 0"),
                         (lambda: EvalSettings(poses="slam"), "poses must be vo or gt, got 'slam'"),
                         (lambda: EvalSettings(device="gpu"), "device must be cpu, cuda, cuda:N or mps"),
                         (lambda: M2HConfig("m", min_depth_m=20.0), "min_depth_m must be below max_depth_m"),
                         (lambda: M2HConfig("m", taps=(1, 2)), "taps needs one entry per post_process_channels"),
                         (lambda: get_config("m2h_tiny").replace(window=0), "window must be at least 1")]:
        with pytest.raises(ConfigValueError, match=re.escape(message)):
            bad()
    assert all(issubclass(schema, Checked) for schema in (EvalSettings, M2HConfig, WorldSpec))
    assert WorldSpec(rooms=6, people=0).rooms == 6 and EvalSettings(poses="gt").poses == "gt"


def test_yaml_numbers_are_read_as_yaml_1_2_writes_them():
    """5e0 and 1e300 (strings to PyYAML, which follows YAML 1.1: a float needs a dot) are floats, as -2.5E-3 and
    .inf are; 1e and e5 stay strings, integers stay integers."""
    from m2h_slam.core.yaml_numbers import load_yaml

    assert yaml.safe_load("[5e0, 1e300]") == ["5e0", "1e300"]  # the problem
    floats = load_yaml("[5e0, 1e300, -2.5E-3, .inf, +3e2, -.5, 1.0e5]")
    assert floats == [5.0, 1e300, -2.5e-3, float("inf"), 300.0, -0.5, 1e5] and all(type(v) is float for v in floats)
    assert load_yaml("[1e, e5, 1.2.3, 5, 0x10, 1_000]") == ["1e", "e5", "1.2.3", 5, 16, 1000]
    assert type(load_yaml("5")) is int and load_yaml("{fx: 1e300}") == {"fx": 1e300}


def test_user_yaml_is_read_only_through_load_yaml():
    """One YAML reader for configs, intrinsics and manifests: no other ``yaml.safe_load``/``yaml.load`` in the
    package (a new one would read 5e0 as a string again)."""
    package = ROOT / "m2h_slam"
    readers = [f"{path.relative_to(ROOT)}:{n}" for path in package.rglob("*.py") if path.name != "yaml_numbers.py"
               for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if re.search(r"\byaml\.(safe_)?load(_all)?\(", line)]
    assert readers == []


def test_config_reads_5e0_as_a_number(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("fusion:\n  depth_max_m: 5e0\n  voxel_size_m: 5E-2\ninput:\n  image_fps: 3e1\n")
    config = load_config(path)
    assert (config.fusion.depth_max_m, config.fusion.voxel_size_m, config.input.image_fps) == (5.0, 0.05, 30.0)


def test_practical_limits_are_checked_after_the_bounds():
    from m2h_slam.core.config import FOV_DEG, IMAGE_SIDE_PX, SEED

    assert IMAGE_SIDE_PX.problem(8192) is None and IMAGE_SIDE_PX.problem((8193, 10)) == "must be at most 8192, got 8193"
    assert IMAGE_SIDE_PX.problem(0) == "must be at least 1, got 0"  # the bound speaks first
    assert FOV_DEG.problem(180) == "must be in (0, 180), got 180" and FOV_DEG.problem(0.01) is None
    assert FOV_DEG.problem(0.001) == "must be at least 0.01, got 0.001"
    assert SEED.problem(2**32) == "must be at most 4294967295, got 4294967296" and SEED.problem(-1) == (
        "must be at least 0, got -1")


def _limited_fields():
    return [(section, f, hint) for section, f, hint in _ranged_fields() if f.metadata["range"].limit is not None]


@pytest.mark.parametrize("section, f, hint", _limited_fields(), ids=lambda v: getattr(v, "name", str(v)))
def test_every_limited_value_is_checked_where_it_is_parsed(tmp_path, section, f, hint):
    """Just past its practical limit, each value is an error naming the key, the file and the limit."""
    limit = f.metadata["range"].limit
    number = int(limit) + 1 if "int" in hint else limit * 1.01
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({section: {f.name: [number, number] if "tuple" in hint else number}}))
    with pytest.raises(InputError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: config key '{section}.{f.name}' must be at most "), str(error.value)


def test_limited_fields_cover_the_sizes_counts_and_depths():
    names = {f.name for _, f, _ in _limited_fields()}
    assert {"max_image_side_px", "input_size", "threads", "iterations", "max_width_px", "depth_max_m",
            "dynamic_dilation_px", "image_fps", "room_seed_reach_m"} <= names


def test_fusion_relations_truncation_and_voxel_budget():
    from m2h_slam.core.config import ConfigValueError, FusionConfig

    with pytest.raises(ConfigValueError, match=re.escape("truncation_m must be at least voxel_size_m (0.05), got 0.02")):
        FusionConfig(truncation_m=0.02)
    assert FusionConfig(truncation_m=0.05, voxel_size_m=0.05).truncation_m == 0.05
    with pytest.raises(ConfigValueError, match=re.escape("max_blocks must be at most 32768 with block_resolution 32")):
        FusionConfig(block_resolution=32, max_blocks=40000)
    assert FusionConfig(block_resolution=32, max_blocks=32768).max_blocks == 32768


def test_limits_of_the_other_stages():
    """Synthetic worlds, their images, training and the network's input have limits too, checked where built."""
    from m2h_slam.core.config import ConfigValueError
    from m2h_slam.perception.model.config import M2HConfig
    from m2h_slam.synthetic.render import RenderOptions
    from m2h_slam.synthetic.world import WorldSpec
    from m2h_slam.train.augment import AugmentConfig
    from m2h_slam.train.trainer import TrainConfig

    for bad, message in [(lambda: WorldSpec(frames=100_001), "frames must be at most 100000, got 100001"),
                         (lambda: WorldSpec(fps=1e9), "fps must be at most 1000"),
                         (lambda: WorldSpec(people=21), "people must be in [0, 20], got 21"),
                         (lambda: RenderOptions(blur_sigma_px=1e9), "blur_sigma_px must be at most 50"),
                         (lambda: RenderOptions(exposure_variation=2.0), "exposure_variation must be in [0, 1]"),
                         (lambda: AugmentConfig(zoom_max=10.0), "zoom_max must be at most 4"),
                         (lambda: TrainConfig(size=(4096, 4096)), "size must be at most 1024, got 4096"),
                         (lambda: TrainConfig(stop_after_steps=0), "stop_after_steps must be at least 1, got 0"),
                         (lambda: TrainConfig(repeats=10**12), "repeats must be at most 10000,"),
                         (lambda: M2HConfig("m", input_size=(3, 3)), "input_size must be at least 14, got 3")]:
        with pytest.raises(ConfigValueError, match=re.escape(message)):
            bad()
    assert WorldSpec(frames=100_000).frames == 100_000 and RenderOptions(blur_sigma_px=50).blur_sigma_px == 50
