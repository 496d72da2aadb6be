"""Weights in and out.

- Our checkpoints: one safetensors file whose metadata holds the model's JSON config,
  so loading rebuilds the right registry entry (``save_checkpoint`` / ``load_checkpoint``).
- Official DINOv2 backbone weights: a torch-hub ``.pth`` or a timm ``.safetensors``.
- The authors' full-model checkpoints (``backbone.*`` + ``mlt_head.*``), mapped by an
  explicit key map (``official_key_map``).

Only ``safetensors`` and ``torch.load(weights_only=True)`` are used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from m2h_slam.core.atomic import atomic_write
from m2h_slam.core.errors import InputError, require_file
from m2h_slam.core.interrupts import raise_if_signalled, signals_received
from m2h_slam.perception.model.config import M2HConfig
from m2h_slam.perception.model.m2h import M2H
from m2h_slam.perception.model.registry import create_model

CONFIG_KEY = "m2h_config"
#: torch-hub DINOv2 tensors that timm's ViT does not have (used only for masked pre-training).
UNUSED_BACKBONE_KEYS = ("mask_token",)
#: Official checkpoints by (embed dim, flavour) -> registry entry.
OFFICIAL_ENTRIES = {(384, "full"): "m2h_vits14", (384, "lightweight"): "m2h_small_vits14",
                    (768, "full"): "m2h_vitb14", (1024, "full"): "m2h_vitl14"}


def save_checkpoint(model: M2H, path: str | os.PathLike, half: bool = False) -> Path:
    """Write the model's tensors and config (JSON in the safetensors metadata), atomically.

    ``half``: store floating-point tensors as float16 (half the size; loading casts back).
    """
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    metadata = {CONFIG_KEY: json.dumps(model.config.to_dict()), "format": "m2h-slam"}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    mark = signals_received()
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as error:
        raise_if_signalled(mark)  # a Ctrl-C inside the read comes out of torch as a ValueError: not the file's fault
        raise InputError(path, f"not a readable safetensors file ({str(error).splitlines()[0][:80]})") from None


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    mark = signals_received()
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors, zip errors, refused globals
        raise_if_signalled(mark)
        raise InputError(path, f"cannot read as a PyTorch state dict ({type(error).__name__})") from None
    for wrapper in ("model", "state_dict", "model_state_dict"):
        if isinstance(data, dict) and isinstance(data.get(wrapper), dict):
            data = data[wrapper]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise InputError(path, "does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in data.items()}


def _load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load ``state`` into ``module``; InputError listing missing, unexpected and mis-shaped keys."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")

        parts = [f"{len(missing)} missing ({show(missing)})" if missing else "",
                 f"{len(unexpected)} unexpected ({show(unexpected)})" if unexpected else "",
                 f"{len(shapes)} with other shapes ({show(shapes)})" if shapes else ""]
        raise InputError(path, "weights do not fit the model: " + "; ".join(p for p in parts if p))
    module.load_state_dict(state, strict=True)


def load_checkpoint(path: str | os.PathLike, **overrides) -> M2H:
    """Rebuild and load a model saved by ``save_checkpoint``."""
    path = Path(path)
    require_file(path, "weights")
    tensors, metadata = _read_safetensors(path)
    if CONFIG_KEY not in metadata:
        raise InputError(path, "safetensors file has no m2h-slam config (is it a backbone-only file?)")
    try:
        config = M2HConfig.from_dict({**json.loads(metadata[CONFIG_KEY]), **overrides})
    except (ValueError, TypeError) as error:
        raise InputError(path, f"bad model config: {error}") from None
    model = M2H(config)
    _load_strict(model, tensors, path)
    return model


def backbone_key_map(keys) -> dict[str, str | None]:
    """torch-hub DINOv2 key -> our parameter name (None: ignored)."""
    return {k: None if k in UNUSED_BACKBONE_KEYS else f"backbone.vit.{k}" for k in keys}


def official_key_map(keys) -> dict[str, str | None]:
    """The authors' checkpoint key -> our parameter name (None: ignored).

    ``backbone.X`` -> ``backbone.vit.X`` (hub and timm DINOv2 names agree, except the
    unused ``mask_token``); ``mlt_head.*`` keep their names (our modules mirror theirs).
    """
    mapping = {}
    for key in keys:
        if key.startswith("backbone."):
            inner = key.removeprefix("backbone.")
            mapping[key] = None if inner in UNUSED_BACKBONE_KEYS else f"backbone.vit.{inner}"
        elif key.startswith("mlt_head."):
            mapping[key] = key
        else:
            mapping[key] = key  # reported as unexpected by the strict load
    return mapping


def _apply(mapping: dict[str, str | None], state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {mapping[k]: v for k, v in state.items() if mapping[k] is not None}


def load_dinov2_backbone(model: M2H, path: str | os.PathLike) -> M2H:
    """Load official DINOv2 backbone weights (torch-hub .pth or timm .safetensors) into ``model``."""
    path = Path(path)
    require_file(path, "weights")
    state = _read_safetensors(path)[0] if path.suffix == ".safetensors" else _read_torch(path)
    state = {k.removeprefix("backbone.").removeprefix("vit."): v for k, v in state.items()}
    mapped = {k.removeprefix("backbone.vit."): v for k, v in _apply(backbone_key_map(state), state).items()}
    _load_strict(model.backbone.vit, mapped, path)
    return model


def official_model_name(state: dict[str, torch.Tensor], path: Path) -> str:
    """Registry entry that fits an official checkpoint (from its embed dim and head flavour)."""
    if "backbone.pos_embed" not in state or not any(k.startswith("mlt_head.") for k in state):
        raise InputError(path, "not an M2H checkpoint (needs backbone.* and mlt_head.* tensors)")
    embed = state["backbone.pos_embed"].shape[-1]
    flavour = "lightweight" if any(".depthwise." in k for k in state if k.startswith("mlt_head.")) else "full"
    if (embed, flavour) not in OFFICIAL_ENTRIES:
        raise InputError(path, f"no model for a {embed}-wide backbone with a {flavour} head")
    return OFFICIAL_ENTRIES[(embed, flavour)]


def load_official_checkpoint(path: str | os.PathLike, **overrides) -> M2H:
    """Build the matching model (official-structure decode) and load the authors' weights."""
    path = Path(path)
    require_file(path, "weights")
    state = _read_torch(path)
    model = create_model(official_model_name(state, path), official_decode=True, **overrides)
    _load_strict(model, _apply(official_key_map(state), state), path)
    return model


def load_weights(path: str | os.PathLike, **overrides) -> M2H:
    """Our safetensors checkpoint or an official ``.pt``/``.pth`` full-model checkpoint."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_checkpoint(path, **overrides)
    return load_official_checkpoint(path, **overrides)
