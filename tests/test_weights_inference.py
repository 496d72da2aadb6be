"""Weights I/O (ours, DINOv2, the authors' checkpoints), the Predictor, ONNX, and the CLI."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli

from m2h_slam.core.errors import InputError
from m2h_slam.perception import OnnxBackend, Predictor, TorchBackend
from m2h_slam.perception.model import create_model
from m2h_slam.perception.model.attention import CrossTaskAttentionLayer
from m2h_slam.perception.model.weights import (
    backbone_key_map,
    load_dinov2_backbone,
    load_official_checkpoint,
    load_weights,
    official_key_map,
    save_checkpoint,
)
from m2h_slam.perception.onnx_cache import EXPORT_VERSION
from m2h_slam.perception.onnx_export import export_onnx

DATA = Path(__file__).parent / "data"


def _official_listing(flavour: str) -> dict[str, tuple]:
    """The authors' head keys and shapes (shared/reference, copied as test data)."""
    listing = {}
    for line in (DATA / f"m2h_official_head_{flavour}.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape = line.split("\t")
            listing[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return listing


@pytest.mark.parametrize("name, flavour, count", [("m2h_vits14", "full", 452), ("m2h_small_vits14", "lightweight", 428)])
def test_every_official_key_maps_to_one_parameter_of_the_same_shape(name, flavour, count):
    listing = _official_listing(flavour)
    assert len(listing) == count
    ours = {k: tuple(v.shape) for k, v in create_model(name).state_dict().items()}
    mapping = official_key_map(listing)
    targets = [mapping[k] for k in listing]
    assert None not in targets and len(set(targets)) == len(targets)  # one-to-one
    assert all(ours[mapping[k]] == shape for k, shape in listing.items())
    # ... and the head has no tensor the official checkpoint lacks.
    assert {k for k in ours if k.startswith("mlt_head.")} == set(targets)


def test_backbone_key_map_covers_the_hub_naming():
    model = create_model("m2h_tiny")
    hub_keys = [k.removeprefix("backbone.vit.") for k in model.state_dict() if k.startswith("backbone.vit.")]
    mapping = backbone_key_map(hub_keys + ["mask_token"])
    assert mapping["mask_token"] is None
    assert {v for v in mapping.values() if v} == {k for k in model.state_dict() if k.startswith("backbone.")}


def _as_official(model) -> dict[str, torch.Tensor]:
    """A model's tensors under the authors' names (what their checkpoints hold)."""
    state = {}
    for key, value in model.state_dict().items():
        state[key.replace("backbone.vit.", "backbone.")] = value.clone()
    state["backbone.mask_token"] = torch.zeros(1, model.config.embed_dim)
    return state


def test_official_checkpoint_loads_with_official_decode(tmp_path):
    torch.manual_seed(1)
    source = create_model("m2h_small_vits14")
    path = tmp_path / "m2h_small.pt"
    torch.save(_as_official(source), path)
    model = load_official_checkpoint(path)
    assert model.config.name == "m2h_small_vits14" and model.config.official_decode
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_our_checkpoint_round_trip_and_dinov2_backbone(tmp_path):
    torch.manual_seed(2)
    model = create_model("m2h_tiny").eval()
    path = save_checkpoint(model, tmp_path / "tiny.safetensors")
    loaded = load_weights(path).eval()
    x = torch.randn(1, 3, 56, 84)
    with torch.no_grad():
        assert torch.equal(model(x)["depth"], loaded(x)["depth"])
    hub = {k.removeprefix("backbone.vit."): v for k, v in model.state_dict().items() if k.startswith("backbone.vit.")}
    torch.save({**hub, "mask_token": torch.zeros(1, 192)}, tmp_path / "dinov2.pth")
    fresh = create_model("m2h_tiny")
    load_dinov2_backbone(fresh, tmp_path / "dinov2.pth")
    assert torch.equal(fresh.backbone.vit.pos_embed, model.backbone.vit.pos_embed)
    # training starts from the backbone file (train --backbone): the ViT is the file's, the decoder is not
    from m2h_slam.app.training import initial_model
    from m2h_slam.train.trainer import TrainConfig

    started = initial_model(TrainConfig(model="m2h_tiny", backbone=str(tmp_path / "dinov2.pth"), seed=5))
    assert torch.equal(started.backbone.vit.pos_embed, model.backbone.vit.pos_embed)
    head = next(k for k in model.state_dict() if not k.startswith("backbone."))
    assert not torch.equal(started.state_dict()[head], model.state_dict()[head])


def test_bad_weights_give_short_errors(tmp_path):
    good = save_checkpoint(create_model("m2h_tiny"), tmp_path / "good.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(InputError, match="cut.safetensors: not a readable safetensors"):
        load_weights(cut)
    with pytest.raises(InputError, match="not found"):
        load_weights(tmp_path / "missing.safetensors")
    # A checkpoint of another model: missing / unexpected keys are listed, briefly.
    torch.save(_as_official(create_model("m2h_tiny")), tmp_path / "tiny.pt")
    with pytest.raises(InputError, match="no model for a 192-wide backbone"):
        load_official_checkpoint(tmp_path / "tiny.pt")
    state = _as_official(create_model("m2h_small_vits14"))
    for key in [k for k in state if k.startswith("mlt_head.seg_out.")]:
        del state[key]
    state["mlt_head.extra.weight"] = torch.zeros(3)
    state["mlt_head.conv_depth.final_conv.bias"] = torch.zeros(2)
    torch.save(state, tmp_path / "mismatched.pt")
    with pytest.raises(InputError) as error:
        load_official_checkpoint(tmp_path / "mismatched.pt")
    message = str(error.value)
    assert "weights do not fit the model" in message and "missing" in message and "1 unexpected" in message
    assert "1 with other shapes (mlt_head.conv_depth.final_conv.bias)" in message and len(message) < 600
    torch.save({"anything": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not an M2H checkpoint"):
        load_weights(tmp_path / "other.pt")
    # Arbitrary pickled objects are refused (weights_only=True).
    torch.save({"model": {"w": torch.zeros(1)}, "evil": object()}, tmp_path / "pickle.pt")
    with pytest.raises(InputError, match="cannot read as a PyTorch state dict"):
        load_weights(tmp_path / "pickle.pt")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(3)
    return create_model("m2h_tiny").eval()


def test_predictor_returns_input_resolution(tiny):
    predictor = Predictor(TorchBackend(tiny), input_size=(112, 84), batch_size=2)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (75, 101, 3), dtype=np.uint8), rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)]
    predictions = list(predictor.predict_many(images))
    for image, p in zip(images, predictions):
        assert p.depth_m.shape == image.shape[:2] and p.normals.shape == (*image.shape[:2], 3)
        assert p.depth_m.min() >= 0 and np.all((p.confidence > 0) & (p.confidence <= 1))
        assert np.allclose(np.linalg.norm(p.normals, axis=-1), 1, atol=1e-3)
        assert p.semantics.max() <= 40 and 0 <= p.edges.min() and p.edges.max() <= 1
    single = predictor.predict(images[0])
    assert np.allclose(single.depth_m, predictions[0].depth_m, atol=1e-5)
    assert Predictor(TorchBackend(tiny)).input_size == (224, 168)  # the model's own default


def test_the_network_runs_with_denormals_flushed_and_leaves_the_thread_as_it_was(tiny, tmp_path):
    """Denormal floats (below 1.2e-38) count as zero while a backend runs the network: in ONNX Runtime's threads (its
    session option) and on the calling thread, which is back to IEEE arithmetic afterwards (and after the session is
    made: Open3D's mesh extraction crashes on a thread that flushes them)."""
    import platform

    from m2h_slam.perception.predictor import denormals_flushed

    if platform.machine().lower() not in ("x86_64", "amd64", "i686"):
        pytest.skip("flushing denormals is an x86 (SSE) control")
    denormal = torch.tensor([1e-39])
    with denormals_flushed():
        assert (denormal * 1.0).item() == 0.0
    assert (denormal * 1.0).item() > 0.0
    backend = OnnxBackend(export_onnx(tiny, tmp_path / "tiny.onnx", 84, 112))
    assert (denormal * 1.0).item() > 0.0
    assert backend.session.get_session_options().get_session_config_entry("session.set_denormal_as_zero") == "1"
    backend(torch.zeros(1, 3, 84, 112))
    TorchBackend(tiny)(torch.zeros(1, 3, 84, 112))
    assert (denormal * 1.0).item() > 0.0


def test_onnx_parity(tiny, tmp_path):
    """The export (window attention and the backbone's attention as ONNX Runtime's fused kernel, padded windows
    masked) predicts what torch does."""
    import onnx

    path = export_onnx(tiny, tmp_path / "tiny.onnx", 84, 112)
    assert not any(module.training for module in tiny.modules())  # the exporter leaves the model as it found it
    fused = [n for n in onnx.load(str(path)).graph.node if n.op_type == "MultiHeadAttention"]
    masked = [n for n in fused if len(n.input) == 5 and n.input[4]]  # 16x12 maps in 7x7 windows: a padding mask
    assert len(masked) == sum(isinstance(m, CrossTaskAttentionLayer) for m in tiny.modules()) > 0
    assert len(fused) - len(masked) == len(tiny.backbone.vit.blocks)  # and the backbone's self-attention
    image = np.random.default_rng(1).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    torch_prediction = Predictor(TorchBackend(tiny), input_size=(112, 84)).predict(image)
    onnx_predictor = Predictor(OnnxBackend(path))
    assert onnx_predictor.input_size == (112, 84)
    onnx_prediction = onnx_predictor.predict(image)
    difference = np.abs(onnx_prediction.depth_m - torch_prediction.depth_m).max()
    print(f"ONNX vs PyTorch max |depth difference|: {difference:.2e} m")
    assert difference < 1e-3
    assert np.abs(onnx_prediction.normals - torch_prediction.normals).max() < 1e-3
    assert (onnx_prediction.semantics == torch_prediction.semantics).mean() > 0.999
    standard = export_onnx(tiny, tmp_path / "standard.onnx", 84, 112, fused_attention=False)
    assert not any(n.domain for n in onnx.load(str(standard)).graph.node)  # only standard operators
    assert np.abs(Predictor(OnnxBackend(standard)).predict(image).depth_m - onnx_prediction.depth_m).max() < 1e-3


def test_default_cpu_runtime_is_onnx_exported_once_and_cached(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("M2H_SLAM_CACHE", str(tmp_path / "cache"))
    weights = save_checkpoint(tiny, tmp_path / "tiny.safetensors")
    image = np.random.default_rng(2).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    auto = Predictor.from_weights(weights, input_size=(112, 84))
    assert isinstance(auto.backend, OnnxBackend) and auto.input_size == (112, 84)
    exports = list((tmp_path / "cache").glob(f"tiny-*-112x84-v{EXPORT_VERSION}.onnx"))
    assert len(exports) == 1
    stamp = exports[0].stat().st_mtime_ns
    again = Predictor.from_weights(weights, input_size=(112, 84))
    assert exports[0].stat().st_mtime_ns == stamp and isinstance(again.backend, OnnxBackend)  # not exported again
    torch_predictor = Predictor.from_weights(weights, runtime="torch", input_size=(112, 84))
    assert isinstance(torch_predictor.backend, TorchBackend)
    assert np.abs(auto.predict(image).depth_m - torch_predictor.predict(image).depth_m).max() < 1e-3
    assert isinstance(Predictor.from_weights(weights, input_size=None).backend, TorchBackend)  # any size: torch
    with pytest.raises(ValueError, match="runtime must be one of"):
        Predictor.from_weights(weights, runtime="tensorrt")


@pytest.mark.slow
def test_cli_predict_and_export(tmp_path, tiny):
    from m2h_slam.formats.image_io import write_rgb

    weights = save_checkpoint(tiny, tmp_path / "tiny.safetensors")
    images = tmp_path / "images"
    for k in range(2):
        write_rgb(images / f"im{k}.png", np.random.default_rng(k).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    result = run_cli("predict", str(images), "--weights", str(weights), "--out", str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    names = {p.name for p in (tmp_path / "out").iterdir()}
    for kind in ("depth", "depth_color", "semantics", "overlay", "normals", "edges", "preview"):
        assert f"im0_{kind}.png" in names and f"im1_{kind}.png" in names
    result = run_cli("export-onnx", str(tmp_path / "tiny.onnx"), "--weights", str(weights), "--input-size", "112x84")
    assert result.returncode == 0, result.stderr
    result = run_cli("export-onnx", str(tmp_path / "std.onnx"), "--weights", str(weights), "--standard-ops")
    assert result.returncode == 0 and "standard operators" in result.stderr, result.stderr
    result = run_cli("predict", str(images / "im0.png"), "--weights", str(tmp_path / "tiny.onnx"), "--out",
                     str(tmp_path / "onnx_out"), "-q")
    assert result.returncode == 0 and (tmp_path / "onnx_out" / "im0_preview.png").is_file()
    bad = run_cli("predict", str(images), "--weights", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "nope.safetensors: weights file not found" in bad.stderr and "Traceback" not in bad.stderr


def test_faster_variants_are_built_once_judged_and_the_fastest_that_passed_is_used(tiny, tmp_path, monkeypatch):
    """The INT8, short-window and short-window native-output variants of an export: built, compared with the export on held-out synthetic frames
    (accuracy and latency recorded beside it), judged once, and the fastest that passed every check is chosen."""
    import json

    from m2h_slam.perception import onnx_variants
    from m2h_slam.perception.onnx_cache import cached_onnx

    monkeypatch.setenv("M2H_SLAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(onnx_variants, "CALIBRATION_FRAMES", 4)
    monkeypatch.setattr(onnx_variants, "HELD_OUT_FRAMES", 4)
    weights = save_checkpoint(tiny, tmp_path / "tiny.safetensors")
    exported = cached_onnx(weights, (112, 84), tiny)
    chosen = onnx_variants.fastest_variant(exported, tiny)
    record = json.loads(exported.with_name(exported.stem + "-variants.json").read_text())
    files = onnx_variants.variant_files(exported)
    assert set(files) == {"int8", "windows", "windows_native"}
    for name in ("export", *files):
        assert set(record[name]) == {"abs_rel", "miou", "ms"} and record[name]["ms"] > 0
    for name in files:
        assert record["checks"][name]["abs_rel"] == (record[name]["abs_rel"] <= 1.02 * record["export"]["abs_rel"])
        assert record["checks"][name]["faster"] == (record[name]["ms"] <= 0.95 * record["export"]["ms"])
    passed = [name for name in files if all(record["checks"][name].values())]
    assert record["chosen"] == (min(passed, key=lambda name: record[name]["ms"]) if passed else "export")
    assert chosen == files.get(record["chosen"], exported)
    stamps = {name: path.stat().st_mtime_ns for name, path in files.items()}
    assert onnx_variants.fastest_variant(exported, tiny) == chosen  # judged once
    assert {name: path.stat().st_mtime_ns for name, path in files.items()} == stamps
    assert all(layer.window == 7 for layer in tiny.mlt_head.cross_attn)  # the caller's model is left as it was
    assert tiny.resize_outputs
    image = np.random.default_rng(2).integers(0, 256, (84, 112, 3), dtype=np.uint8)
    for path in files.values():
        predicted = Predictor(OnnxBackend(path)).predict(image)
        assert predicted.depth_m.shape == (84, 112) and np.isfinite(predicted.depth_m).all()


def test_short_windows_match_the_network_run_in_those_windows(tiny, tmp_path):
    """The windows variant is the same weights with (4, 8) windows: the export and PyTorch agree, and it differs from
    the network in its trained 7 x 7 windows."""
    import copy

    from m2h_slam.perception.onnx_export import export_onnx
    from m2h_slam.perception.onnx_variants import SHORT_WINDOW, export_short_windows

    exported = export_onnx(tiny, tmp_path / "tiny.onnx", 84, 112)
    short = export_short_windows(tiny, exported, tmp_path / "short.onnx")
    image = torch.from_numpy(np.random.default_rng(3).random((1, 3, 84, 112), np.float32))
    reference = copy.deepcopy(tiny)
    for layer in reference.mlt_head.cross_attn:
        layer.window = SHORT_WINDOW
    with torch.inference_mode():
        expected, trained = reference(image)["sem_seg"].numpy(), tiny(image)["sem_seg"].numpy()
    got = OnnxBackend(short)(image[0][None])["sem_seg"].numpy()  # logits (depth of random weights is mostly clipped)
    assert np.abs(got - expected).max() < 1e-5 < np.abs(got - trained).max()


def test_native_outputs_are_the_heads_and_predict_what_the_resized_ones_do(tiny, tmp_path):
    """The windows_native variant outputs the heads' maps (smaller than the input), and the predictor resizes them to
    the image: the same classes nearly everywhere and depth within a few % of the windows variant, whose network
    resized them to its input first."""
    from m2h_slam.perception.onnx_variants import export_short_windows

    exported = export_onnx(tiny, tmp_path / "tiny.onnx", 84, 112)
    resized = Predictor(OnnxBackend(export_short_windows(tiny, exported, tmp_path / "short.onnx")))
    native = Predictor(OnnxBackend(export_short_windows(tiny, exported, tmp_path / "native.onnx", native_outputs=True)))
    assert all(o.shape[2] < 84 and o.shape[3] < 112 for o in native.backend.session.get_outputs())
    image = np.random.default_rng(4).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    a, b = resized.predict(image), native.predict(image)
    assert b.depth_m.shape == b.semantics.shape == (120, 160) and b.normals.shape == (120, 160, 3)
    assert (a.semantics == b.semantics).mean() > 0.9
    assert np.median(np.abs(b.depth_m / a.depth_m - 1)) < 0.05
    assert np.allclose(np.linalg.norm(b.normals, axis=-1), 1, atol=1e-3)
