"""The M2H network: every registry entry, decode sizes, frozen backbone, losses, overfitting."""

import numpy as np
import pytest
import torch

from m2h_slam.perception.model import create_model, get_config, list_models
from m2h_slam.perception.model.losses import (
    DynamicWeightAverage,
    depth_loss,
    depth_normal_consistency,
    edge_loss,
    edge_semantic_consistency,
    normal_loss,
    normals_from_depth,
    semantic_loss,
    task_losses,
)
from m2h_slam.perception.model.reference import reference_forwards

SMALL = {"depth": 4, "taps": (0, 1, 2, 3)}  # a 4-block backbone keeps tests fast; the decoder is full size


@pytest.mark.parametrize("name", list_models())
def test_every_entry_runs_on_odd_sizes(name):
    torch.manual_seed(0)
    model = create_model(name, **SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 97, 131))
    assert out["depth"].shape == (1, 1, 97, 131) and out["sem_seg"].shape == (1, 41, 97, 131)
    assert out["normals"].shape == (1, 3, 97, 131) and out["edges"].shape == (1, 1, 97, 131)
    config = get_config(name)
    assert out["depth"].min() >= config.min_depth_m and out["depth"].max() <= config.max_depth_m
    assert torch.allclose(out["normals"].norm(dim=1), torch.ones(1, 97, 131), atol=1e-4)
    assert torch.isfinite(out["sem_seg"]).all() and torch.isfinite(out["edges"]).all()


@pytest.mark.parametrize("name", ["m2h_tiny", "m2h_small_vits14", "m2h_vits14"])
def test_todays_forwards_compute_the_reference_functions(name):
    """Stacked per-task modules, pointwise layers before the upsampling, one LayerNorm per attention layer: the same
    outputs as the modules run one at a time at the resolutions the paper draws (``reference_forwards``), in
    evaluation and in training, on an odd size (padded attention windows, padded patches)."""
    torch.manual_seed(0)
    model = create_model(name, **SMALL)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # statistics away from (0, 1), so that a mix-up shows
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    images = torch.randn(2, 3, 97, 131)
    for training in (False, True):
        model.train(training)
        with torch.no_grad():
            today = model(images)
            with reference_forwards():
                reference = model(images)
        for task, x in today.items():
            assert torch.allclose(x, reference[task], rtol=1e-4, atol=1e-4), (name, training, task)
    assert type(model.mlt_head).forward.__module__ == "m2h_slam.perception.model.decoder"  # today's are back


def test_pretrained_is_refused():
    with pytest.raises(ValueError, match="download"):
        create_model("m2h_tiny", pretrained=True)


def test_decode_resolution_official_vs_ours():
    model = create_model("m2h_tiny").eval()
    layers = model.backbone(torch.randn(1, 3, 112, 112))  # 8x8 patch grid
    with torch.no_grad():
        ours = model.mlt_head(layers)["depth"].shape[-2:]
        model.mlt_head.config = model.config.replace(official_decode=True)
        official = model.mlt_head(layers)["depth"].shape[-2:]
    assert tuple(ours) == (64, 64)  # 8x the grid: below the 112 input
    assert tuple(official) == (256, 256)  # 32x the grid, as the authors' head (512 for 224)


def test_frozen_backbone_gets_no_gradients():
    model = create_model("m2h_tiny", freeze_backbone=True)
    model.train()
    out = model(torch.randn(2, 3, 56, 70))
    sum(v.float().mean() for v in out.values()).backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    head_grads = [p.grad for p in model.mlt_head.parameters() if p.requires_grad]
    assert head_grads and sum(g is not None and g.abs().sum() > 0 for g in head_grads) > 0.9 * len(head_grads)
    assert not model.backbone.vit.training  # frozen backbone stays in inference mode


def test_task_losses_zero_at_truth_and_positive_otherwise():
    torch.manual_seed(0)
    depth = torch.rand(2, 1, 8, 10) * 4 + 0.5
    assert depth_loss(depth, depth) < 1e-3 and depth_loss(depth * 1.2, depth) > 0.1
    normals = torch.nn.functional.normalize(torch.randn(2, 3, 8, 10), dim=1)
    assert normal_loss(normals, normals) < 1e-6 and normal_loss(-normals, normals) == pytest.approx(2.0)
    labels = torch.randint(1, 41, (2, 8, 10))
    right = torch.nn.functional.one_hot(labels, 41).permute(0, 3, 1, 2).float() * 20
    assert semantic_loss(right, labels) < 1e-6 and semantic_loss(torch.roll(right, 1, 1), labels) > 10
    assert semantic_loss(right, torch.zeros_like(labels)) == 0  # unknown everywhere: nothing to learn
    edges = (torch.rand(2, 1, 8, 10) > 0.8).float()
    assert edge_loss((edges - 0.5) * 40, edges) < 1e-3 < edge_loss(-(edges - 0.5) * 40, edges)
    # Missing depth is masked, not a NaN.
    assert depth_loss(depth, torch.zeros_like(depth)) == 0


def test_semantic_loss_weighs_rare_classes_up():
    labels = torch.ones(1, 10, 10, dtype=torch.long)
    labels[0, :2, :2] = 5  # 4 of 100 pixels
    logits = torch.nn.functional.one_hot(labels, 41).permute(0, 3, 1, 2).float() * 10
    missed_rare = logits.clone()
    missed_rare[0, :, :2, :2] = logits[0, :, 5:7, 5:7]  # the rare pixels predicted as the common class
    plain = torch.nn.functional.cross_entropy(missed_rare, labels)
    # The 4 rare pixels weigh as much as sqrt(96 / 4) ~ 4.9 common ones each: the mistake costs more.
    assert semantic_loss(missed_rare, labels) > 3 * plain
    assert semantic_loss(missed_rare, labels, "none") == pytest.approx(plain.item(), rel=1e-5)


def test_depth_normal_consistency_on_a_plane():
    H, W = 24, 32
    K = torch.tensor([[30.0, 30.0, 15.5, 11.5]])
    v, u = torch.meshgrid(torch.arange(H).float(), torch.arange(W).float(), indexing="ij")
    n = torch.tensor([0.2, -0.3, -0.9327])
    n = n / n.norm()
    # Plane n . X = -2 seen by the camera: z = -2 / (n . ((u-cx)/fx, (v-cy)/fy, 1)).
    rays = torch.stack([(u - 15.5) / 30, (v - 11.5) / 30, torch.ones_like(u)])
    depth = (-2.0 / (n.view(3, 1, 1) * rays).sum(0))[None, None]
    derived = normals_from_depth(depth, K)
    assert torch.allclose(derived[0, :, 2:-2, 2:-2], n.view(3, 1, 1).expand(3, H - 4, W - 4), atol=1e-3)
    assert depth_normal_consistency(depth, n.view(1, 3, 1, 1).expand(1, 3, H, W), K) < 0.01
    assert depth_normal_consistency(depth, torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1).expand(1, 3, H, W), K) > 0.5


def test_edge_semantic_consistency_and_missing_tasks():
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[:, :, 4:] = 5
    logits = torch.nn.functional.one_hot(labels, 41).permute(0, 3, 1, 2).float() * 30
    edges = torch.full((1, 1, 8, 8), -30.0)
    edges[..., 3] = 30.0  # the boundary column (differs from its right neighbour)
    assert edge_semantic_consistency(edges, logits) < 1e-3
    assert edge_semantic_consistency(-edges, logits) > 0.9
    out = {"depth": torch.ones(1, 1, 8, 8), "sem_seg": logits, "normals": torch.zeros(1, 3, 8, 8), "edges": edges}
    only_depth = task_losses(out, {"depth": torch.ones(1, 1, 8, 8)})
    assert set(only_depth) == {"depth", "edge_semantic"}


def test_dynamic_weight_average():
    dwa = DynamicWeightAverage(temperature=2.0)
    assert dwa.weights(["a", "b"]) == {"a": 1.0, "b": 1.0}
    dwa.update({"a": 1.0, "b": 1.0})
    dwa.update({"a": 0.5, "b": 0.9})  # b improves more slowly: it gets more weight
    weights = dwa.weights(["a", "b"])
    assert sum(weights.values()) == pytest.approx(2.0) and weights["b"] > weights["a"]


@pytest.mark.slow
def test_tiny_model_overfits_one_synthetic_batch(tmp_path):
    from m2h_slam.synthetic import WorldSpec, write_synthetic
    from m2h_slam.train import TrainingDataset

    write_synthetic(tmp_path / "s", WorldSpec(seed=4, frames=2, rooms=2, people=0), size=(84, 56), progress=False)
    images, target = next(iter(torch.utils.data.DataLoader(TrainingDataset([tmp_path / "s"], (84, 56)), batch_size=2)))
    torch.manual_seed(0)
    model = create_model("m2h_tiny")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = []
    for _ in range(30):  # the loss falls to about a ninth in 30 steps
        losses = task_losses(model(images), target)
        total = sum(v for k, v in losses.items() if k in ("semantics", "depth", "normals"))
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert np.isfinite(history).all()
    assert history[-1] < history[0] / 5, history[::10]
