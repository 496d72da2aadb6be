"""M2H network costs, every ratio measured in this one run (2-core CPU unless stated).

    .venv/bin/python benchmarks/model.py [--quick]

1. params and GFLOPs (torch.utils.flop_counter, FLOPs = 2 x MACs) per registry entry at
   224x224 and 476x630, our decode and the official-structure decode, beside the paper;
2. m2h_small_vits14 at 224x224: our decode vs the official-structure decode (FLOPs, latency);
3. WMCA vs global cross-task attention at the feature size of a 480x640 input (latency, memory);
4. one 4-task M2H vs 4 single-task models (only the backbone is shared);
5. ONNX Runtime vs PyTorch eager; m2h_tiny frames/s at 320x240 through the Predictor.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
from pathlib import Path

import numpy as np
import torch
from common import peak_rss_mb, report, timed
from torch.utils.flop_counter import FlopCounterMode

from m2h_slam.perception.model import create_model, list_models
from m2h_slam.perception.model.attention import CrossTaskAttentionLayer
from m2h_slam.perception.model.config import TASKS

PAPER = {"m2h_vits14": {"params_m": 81.0}, "m2h_small_vits14": {"params_m": 33.7}}
OFFICIAL_REFERENCE = {  # measured with the authors' heads (shared/reference/README.md)
    "224x224": {"backbone_gflops": 11.0, "full_head_gflops": 779, "lightweight_head_gflops": 39.5,
                "full_head_s": 10.5, "lightweight_head_s": 2.9},
    "476x630": {"backbone_gflops": 65.7, "full_head_gflops": 4703, "lightweight_head_gflops": 241},
}


def flops(name: str, height: int, width: int, **overrides) -> tuple[float, dict[str, float]]:
    """(total GFLOPs, GFLOPs per top-level part) of one forward pass, counted on the meta device."""
    with torch.device("meta"):
        model = create_model(name, **overrides).eval()
        x = torch.zeros(1, 3, height, width)
    counter = FlopCounterMode(display=False, depth=3)
    with counter, torch.no_grad():
        model(x)
    parts = {k.removeprefix("M2H."): sum(v.values()) / 1e9 for k, v in counter.get_flop_counts().items()}
    return counter.get_total_flops() / 1e9, parts


def latency(model: torch.nn.Module, x: torch.Tensor, repeat: int) -> float:
    with torch.inference_mode():
        return timed(lambda: model(x), repeat)


def _own_peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM; ru_maxrss would include the parent's at spawn)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _attention_child(kind: str, dim: int, tokens_hw: tuple[int, int], queue) -> None:
    torch.manual_seed(0)
    layer = CrossTaskAttentionLayer(dim, len(TASKS), heads=4, window=7 if kind == "window" else None).eval()
    feats = [torch.randn(1, dim, *tokens_hw) for _ in TASKS]
    seconds = latency(lambda f: layer(f), feats, repeat=2)
    tokens = len(TASKS) * 49 if kind == "window" else len(TASKS) * tokens_hw[0] * tokens_hw[1]
    groups = 1 if kind == "global" else -(-tokens_hw[0] // 7) * -(-tokens_hw[1] // 7)
    queue.put({"ms": round(1000 * seconds, 1),
               "process_peak_rss_mb": _own_peak_rss_mb(),
               # what a naive (non-fused) implementation would hold: one score matrix per head
               "naive_attention_matrix_mb": round(groups * 4 * tokens**2 * 4 / 1e6, 1)})


def attention_comparison(dim: int, height: int, width: int) -> dict:
    """WMCA vs global attention on the fused maps of a height x width input (our decode: 2x the patch grid)."""
    grid = (2 * -(-height // 14), 2 * -(-width // 14))
    results = {}
    ctx = mp.get_context("spawn")
    for kind in ("window", "global"):
        queue = ctx.Queue()
        process = ctx.Process(target=_attention_child, args=(kind, dim, grid, queue))
        process.start()
        results[kind] = queue.get()
        process.join()
    return {"input": f"{width}x{height}", "feature_map": f"{grid[1]}x{grid[0]}", "tokens_per_task": grid[0] * grid[1],
            "dim": dim, **results, "latency_ratio_window_over_global": round(results["window"]["ms"] / results["global"]["ms"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the slowest measurements")
    args = parser.parse_args()
    torch.manual_seed(0)
    result: dict = {"torch_threads": torch.get_num_threads(), "paper": PAPER, "official_reference": OFFICIAL_REFERENCE}

    # 1. Params and FLOPs per registry entry.
    entries = {}
    for name in list_models():
        with torch.device("meta"):
            model = create_model(name)
        entry = {"params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
                 "head_params_m": round(sum(p.numel() for p in model.mlt_head.parameters()) / 1e6, 2)}
        for h, w in ((224, 224), (476, 630)):
            total, parts = flops(name, h, w)
            official, _ = flops(name, h, w, official_decode=True)
            entry[f"{w}x{h}"] = {"gflops": round(total, 1), "backbone_gflops": round(parts.get("backbone", 0.0), 1),
                                 "official_decode_gflops": round(official, 1)}
        entries[name] = entry
    result["entries"] = entries

    # 2. Our decode vs the official-structure decode, m2h_small_vits14 at 224x224.
    x = torch.randn(1, 3, 224, 224)
    ours = create_model("m2h_small_vits14").eval()
    official = create_model("m2h_small_vits14", official_decode=True).eval()
    official.load_state_dict(ours.state_dict())
    ours_s, official_s = latency(ours, x, 3), latency(official, x, 1 if args.quick else 2)
    ours_g = entries["m2h_small_vits14"]["224x224"]["gflops"]
    official_g = entries["m2h_small_vits14"]["224x224"]["official_decode_gflops"]
    result["decode_m2h_small_vits14_224"] = {
        "ours_gflops": ours_g, "official_structure_gflops": official_g, "flops_ratio": round(ours_g / official_g, 3),
        "ours_ms": round(1000 * ours_s, 1), "official_structure_ms": round(1000 * official_s, 1),
        "latency_ratio": round(ours_s / official_s, 3), "targets": {"flops_ratio": 0.5, "latency_ratio": 0.25},
    }

    # 3. WMCA vs global cross-task attention at the feature size of a 480x640 input.
    result["attention_480x640"] = {"m2h_small_vits14": attention_comparison(24, 480, 640)}
    if not args.quick:
        result["attention_480x640"]["m2h_vits14"] = attention_comparison(256, 480, 640)
    result["attention_target_latency_ratio"] = 0.25

    # 4. One 4-task model vs four single-task models (backbone and reassembly duplicated, no WMCA).
    total, parts = flops("m2h_vits14", 224, 224)
    shared = parts.get("backbone", 0) + parts.get("mlt_head.reassemble_blocks", 0) + parts.get("mlt_head.convs", 0)
    attention = parts.get("mlt_head.cross_attn", 0)
    separate = 4 * shared + (total - shared - attention)
    result["multitask_vs_4_single_task_m2h_vits14_224"] = {
        "m2h_gflops": round(total, 1), "four_models_gflops": round(separate, 1), "ratio": round(total / separate, 3)}

    # 5. ONNX Runtime vs PyTorch, and the demo model end to end through the Predictor.
    from m2h_slam.perception import OnnxBackend, Predictor, TorchBackend
    from m2h_slam.perception.onnx_export import export_onnx

    speed = {}
    for name in ("m2h_tiny", "m2h_small_vits14"):
        model = create_model(name).eval()
        w, h = model.config.input_size
        x = torch.randn(1, 3, h, w)
        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(model, Path(tmp) / "m.onnx", h, w)
            backend = OnnxBackend(path)
            onnx_s = timed(lambda: backend(x), 5)
        torch_s = latency(model, x, 5)
        speed[name] = {"input": f"{w}x{h}", "torch_ms": round(1000 * torch_s, 1), "onnx_ms": round(1000 * onnx_s, 1),
                       "onnx_speedup": round(torch_s / onnx_s, 2)}
    result["onnx_vs_torch"] = speed
    image = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    tiny = create_model("m2h_tiny").eval()
    predictor = Predictor(TorchBackend(tiny))
    seconds = timed(lambda: predictor.predict(image), 10)
    result["m2h_tiny_predictor_320x240"] = {"network_input": "x".join(map(str, predictor.input_size)),
                                            "ms_per_frame": round(1000 * seconds, 1), "frames_per_s": round(1 / seconds, 1)}
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    report("model", result)


if __name__ == "__main__":
    main()
