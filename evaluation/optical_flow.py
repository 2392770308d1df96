"""Optical flow between consecutive frames with torchvision's RAFT, offline.

RAFT weights (torchvision's ``Raft_Large_Weights.C_T_V2`` / ``Raft_Small_Weights.C_T_V2``,
trained on FlyingChairs + FlyingThings like VBench's ``raft-things.pth``) are looked up as a
local file given as ``flow_weights=``, then in torch hub's checkpoint cache
(``$TORCH_HOME/hub/checkpoints/``, where torchvision puts them), and are never downloaded.
``"raft_large_v1"`` is RAFT-Large with ``Raft_Large_Weights.C_T_V1``: the original paper's
``raft-things.pth`` (princeton-vl RAFT, the checkpoint VBench's dynamic degree loads) ported to
torchvision, where ``C_T_V2`` was retrained by torchvision.

Frames are resized so that the shorter side is ``size`` pixels (default 256, VBench's reference
scale) and both sides are multiples of 8, as RAFT needs; with ``size=None`` they keep their
resolution and are edge-padded to multiples of 8. RAFT also needs both sides to be at least 128.
Flow magnitudes are in pixels of the resized frames.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from evaluation.checkpoints import WeightsSource, load_state_dict, resolve_weights
from evaluation.inputs import frames_to_float

__all__ = [
    "RAFT_MODELS",
    "flow_pairs",
    "load_raft",
    "prepare_flow_frames",
    "resolve_raft_weights",
]

MIN_FLOW_SIDE = 128


def _raft_models() -> dict[str, tuple[Callable[..., nn.Module], object]]:
    from torchvision.models.optical_flow import (
        Raft_Large_Weights,
        Raft_Small_Weights,
        raft_large,
        raft_small,
    )

    return {
        "raft_large": (raft_large, Raft_Large_Weights.C_T_V2),
        "raft_small": (raft_small, Raft_Small_Weights.C_T_V2),
        "raft_large_v1": (raft_large, Raft_Large_Weights.C_T_V1),
    }


RAFT_MODELS = ("raft_large", "raft_small", "raft_large_v1")
_CACHE: dict[tuple[str, str, str], nn.Module] = {}
_LOCK = threading.Lock()


_MOTION_ALTERNATIVE = "leave flow out: flow=None (motion as mean frame difference only)"


def resolve_raft_weights(
    name: str,
    weights: str | os.PathLike | None = None,
    *,
    alternative: str | None = _MOTION_ALTERNATIVE,
) -> WeightsSource:
    """Where RAFT ``name``'s weights are (no loading, no download).

    ``alternative`` is the way to run without RAFT that the error names (``None``: none).

    Raises:
        WeightsNotFoundError: neither ``weights`` nor torch hub's cache has them.
    """
    if name not in RAFT_MODELS:
        raise ValueError(f"flow model must be one of {RAFT_MODELS}, got {name!r}")
    builder, enum = _raft_models()[name]
    url = enum.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    return resolve_weights(
        f"optical flow model {name!r} (torchvision {type(enum).__name__}.{enum.name})",
        weights,
        cache_files=[cached],
        download_hint=(
            f'python -c "import torchvision; torchvision.models.optical_flow.{builder.__name__}'
            f"(weights='{enum.name}')\"   # fetches {url} into {cached.parent}"
        ),
        argument="flow_weights",
        alternative=alternative,
        cache_env="TORCH_HOME",
    )


def _check_raft_keys(
    model: nn.Module, state: dict[str, torch.Tensor], name: str, path: Path
) -> None:
    """One error naming the first key (in the model's order) that the checkpoint lacks, has in
    another shape, or has in excess; princeton-vl's own ``raft-things.pth`` gets a pointer to
    torchvision's port of it."""
    expected = model.state_dict()
    problem = None
    for key, tensor in expected.items():
        if key not in state:
            problem = f"missing key {key!r}"
        elif tuple(state[key].shape) != tuple(tensor.shape):
            problem = f"{key!r} has shape {tuple(state[key].shape)}, expected {tuple(tensor.shape)}"
        if problem:
            break
    if problem is None:
        extra = next((key for key in state if key not in expected), None)
        problem = None if extra is None else f"unexpected key {extra!r}"
    if problem is None:
        return
    hint = ""
    if any(key.startswith(("fnet.", "cnet.", "update_block.")) for key in state):
        hint = (
            "; its keys are princeton-vl RAFT's (e.g. VBench's raft-things.pth): torchvision "
            "ships the same weights ported as Raft_Large_Weights.C_T_V1 (flow model "
            "'raft_large_v1', file raft_large_C_T_V1-22a6c225.pth)"
        )
    raise ValueError(f"{path} is not a torchvision {name!r} checkpoint: {problem}{hint}")


def load_raft(
    name: str = "raft_large",
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """torchvision RAFT ``name`` with local weights, built once per process, weights and device.

    Args:
        name: ``"raft_large"``, ``"raft_small"`` or ``"raft_large_v1"`` (see the module
            docstring).
        weights: ``None`` (torch hub cache), ``"random"`` (seed 0; tests only) or a local file.
        device: where the model lives.

    Raises:
        WeightsNotFoundError: the weights are not on this machine.
        ValueError: the checkpoint's keys or shapes are not the model's (first mismatch named).
    """
    source = resolve_raft_weights(name, weights)
    key = (name, str(source), str(torch.device(device)))
    with _LOCK:
        if key not in _CACHE:
            builder, _ = _raft_models()[name]
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = builder(weights=None, progress=False)
            if source.path is not None:
                state = load_state_dict(source.path)
                _check_raft_keys(model, state, name, source.path)
                model.load_state_dict(state)
            _CACHE[key] = model.eval().requires_grad_(False).to(device)
        return _CACHE[key]


def prepare_flow_frames(frames: torch.Tensor, size: int | None = 256) -> torch.Tensor:
    """Frames as RAFT takes them.

    Args:
        frames: ``(N, 3, H, W)`` uint8 or float in [0, 1].
        size: shorter side after resizing (``None``: keep, pad to multiples of 8).

    Returns:
        ``(N, 3, h, w)`` float32 in [-1, 1], ``h`` and ``w`` multiples of 8.
    """
    x = frames_to_float(frames)
    height, width = x.shape[-2:]
    if size is not None:
        scale = size / min(height, width)
        target = [max(8, round(height * scale / 8) * 8), max(8, round(width * scale / 8) * 8)]
        if target != [height, width]:
            x = TF.resize(x, target, interpolation=InterpolationMode.BILINEAR, antialias=True)
            x = x.clamp(0.0, 1.0)
    else:
        pad_h, pad_w = -height % 8, -width % 8
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    if min(x.shape[-2:]) < MIN_FLOW_SIDE:
        raise ValueError(
            f"RAFT needs frames of at least {MIN_FLOW_SIDE} pixels a side, got "
            f"{tuple(x.shape[-2:])} (from {height}x{width} with flow size={size}); raise the "
            f"flow size"
        )
    return x * 2 - 1


def flow_pairs(
    flow_model: nn.Module,
    first: torch.Tensor,
    second: torch.Tensor,
    num_flow_updates: int = 12,
) -> torch.Tensor:
    """Flow from ``first`` to ``second``.

    Args:
        flow_model: torchvision RAFT, or any module ``(a, b) -> flow`` or a list of refinements
            whose last entry is the flow.
        first: ``(N, 3, h, w)`` prepared frames (:func:`prepare_flow_frames`).
        second: same shape.
        num_flow_updates: RAFT's refinement iterations (torchvision RAFT only).

    Returns:
        ``(N, 2, h, w)`` flow in pixels.
    """
    from torchvision.models.optical_flow import RAFT

    if isinstance(flow_model, RAFT):
        out = flow_model(first, second, num_flow_updates=num_flow_updates)
    else:
        out = flow_model(first, second)
    if isinstance(out, (list, tuple)):
        out = out[-1]
    if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[:2] != (len(first), 2):
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"flow model must return (N, 2, h, w) flow, got {shape}")
    return out
