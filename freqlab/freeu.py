"""FreeU on diffusers UNets, through forward pre-hooks that leave the model untouched.

FreeU (Si et al., CVPR 2024) changes what each decoder resnet sees at a skip connection: the backbone
features ``h`` get their first ``C // 2`` channels amplified by ``b`` and the skip features ``hs`` get
their lowest spatial frequencies scaled by ``s``, before ``cat([h, hs], dim=1)``::

    with FreeU(b1=1.5, b2=1.6, s1=0.9, s2=0.2).apply(pipe.unet):
        frames = pipe(prompt).frames

How it works: in diffusers' up blocks each resnet receives exactly that concatenation, ``(N, C_h + C_s,
H, W)`` with video frames folded into ``N``. A forward pre-hook on the resnet splits it at ``C_h``,
applies :func:`freqlab.spectral._backbone_scale` to ``h`` and :func:`freqlab.spectral._skip_filter` to
``hs`` (per channel, per frame) and re-concatenates. No diffusers source, attribute or weight is
modified; leaving the ``with`` block (or ``handle.remove()``) removes the hooks.

Which concatenation points get which factors (``stages``), as the official code
(``demo/free_lunch_utils.py``) and diffusers' ``apply_freeu`` choose them:

* ``"diffusers"``: every resnet of the up blocks whose ``resolution_idx`` is 0 (``b1, s1``) or 1
  (``b2, s2``), as diffusers' ``apply_freeu``.
* ``"official"``: by the channel count of ``h``, as the official code (``1280 -> b1, s1``; ``640 -> b2,
  s2``), generalised to the UNet's own widths: the largest of ``config.block_out_channels`` plays 1280
  and the second-largest distinct width plays 640 (a UNet with a single width only has stage 1). For
  SD-1.x/2.x, ModelScope and AnimateDiff (320/640/1280/1280) the two rules scale different points.

Differences from diffusers' ``enable_freeu``: a factor equal to ``0.0`` is honoured here (diffusers
tests the factors for truthiness, so any zero factor silently disables FreeU there); ``variant="v2"``
offers the official structure-related backbone scaling; float64 features are filtered in float64
(diffusers drops to float32).

References: C. Si, Z. Huang, Y. Jiang, Z. Liu, "FreeU: Free Lunch in Diffusion U-Net", CVPR 2024,
arXiv:2309.11497 (v2 backbone scaling: Eq. 2-4); official code https://github.com/ChenyangSi/FreeU
(read at commit 3676d365: ``demo/free_lunch_utils.py`` for v1 and the stages, ``README.md`` for v2);
diffusers' ``enable_freeu`` / ``apply_freeu`` (PR #5164).
"""

from __future__ import annotations

import math
import numbers
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers import UNet2DConditionModel, UNet3DConditionModel, UNetMotionModel
from diffusers.models.unets.unet_2d_blocks import CrossAttnUpBlock2D, UpBlock2D
from diffusers.models.unets.unet_3d_blocks import CrossAttnUpBlock3D, UpBlock3D
from diffusers.models.unets.unet_motion_model import CrossAttnUpBlockMotion, UpBlockMotion

from freqlab.handles import ModelHandle, refuse_transformer
from freqlab.spectral import FREEU_VARIANTS, _backbone_scale, _skip_filter

__all__ = ["FREEU_STAGES", "FreeU", "FreeUHandle", "FreeUTarget"]

FREEU_STAGES = ("diffusers", "official")
SUPPORTED_UNETS = (UNet2DConditionModel, UNet3DConditionModel, UNetMotionModel)
# The up blocks in which diffusers calls apply_freeu; they all pop one skip tensor per resnet and
# call the resnet on cat([h, hs], dim=1).
SUPPORTED_UP_BLOCKS = (
    UpBlock2D,
    CrossAttnUpBlock2D,
    UpBlock3D,
    CrossAttnUpBlock3D,
    UpBlockMotion,
    CrossAttnUpBlockMotion,
)
_FACTORS = ("b1", "b2", "s1", "s2")

# UNets with FreeU hooks currently attached, to refuse stacking two FreeUs on one model.
_ACTIVE: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()


@dataclass(frozen=True)
class FreeUTarget:
    """One skip concatenation point: the input of ``unet.up_blocks[up_block].resnets[resnet]``.

    ``backbone_channels`` (``C_h``) and ``skip_channels`` (``C_s``) split the resnet's input
    ``(N, C_h + C_s, H, W)``. ``stage`` is 1 (``b1, s1``), 2 (``b2, s2``) or ``None`` (untouched).
    """

    up_block: int
    resnet: int
    block_type: str
    backbone_channels: int
    skip_channels: int
    stage: int | None = None
    b: float | None = None
    s: float | None = None


def _resolve_unet(unet: object) -> torch.nn.Module:
    """The supported UNet itself, or a pipeline's ``.unet``; ValueError naming ``unet`` otherwise
    (one naming FreeU and the classes for a diffusion-transformer pipeline: no skip connections)."""
    refuse_transformer(unet, "FreeU")
    model = unet if isinstance(unet, SUPPORTED_UNETS) else getattr(unet, "unet", None)
    if not isinstance(model, SUPPORTED_UNETS):
        names = ", ".join(cls.__name__ for cls in SUPPORTED_UNETS)
        raise ValueError(
            f"unet must be one of {names}, or a pipeline whose .unet is one; "
            f"got {type(unet).__name__}"
        )
    for i, block in enumerate(model.up_blocks):
        if not isinstance(block, SUPPORTED_UP_BLOCKS):
            names = ", ".join(cls.__name__ for cls in SUPPORTED_UP_BLOCKS)
            raise ValueError(
                f"unet.up_blocks[{i}] is a {type(block).__name__}; FreeU supports {names}"
            )
    return model


def _concat_points(unet: torch.nn.Module) -> list[FreeUTarget]:
    """Every concatenation point of the decoder, with its channel split (no stage assigned).

    Derived from the built modules, as diffusers builds them: resnet ``j`` of up block ``i`` gets
    ``h`` from resnet ``j - 1`` of the same block (attention/temporal layers keep channels), and
    resnet 0 gets the previous up block's output (upsamplers keep channels), or for up block 0 the
    mid block's output, ``block_out_channels[-1]``. The skip part is the rest of the resnet's input.
    """
    points = []
    backbone = int(unet.config.block_out_channels[-1])
    for i, block in enumerate(unet.up_blocks):
        for j, resnet in enumerate(block.resnets):
            skip = int(resnet.in_channels) - backbone
            if skip <= 0:
                raise ValueError(
                    f"unet.up_blocks[{i}].resnets[{j}] has {resnet.in_channels} input channels, "
                    f"not more than the {backbone} expected backbone channels; unsupported layout"
                )
            points.append(FreeUTarget(i, j, type(block).__name__, backbone, skip))
            backbone = int(resnet.out_channels)
    return points


def _check_factor(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number >= 0, got {value!r}")
    if not math.isfinite(float(value)) or value < 0:
        # The factors scale features (b) and their lowest frequencies (s); a negative one would
        # flip their sign, which no FreeU variant means.
        raise ValueError(f"{name} must be a finite real number >= 0, got {value!r}")
    return float(value)


def _freeu_pre_hook(
    backbone_channels: int, b: float, s: float, variant: str
) -> Callable[[torch.nn.Module, tuple, dict], tuple[tuple, dict]]:
    """A ``with_kwargs`` forward pre-hook for a ResnetBlock2D: FreeU on its ``input_tensor``.

    diffusers calls the resnet positionally in some blocks (``resnet(h, temb)``) and by keyword in
    the motion blocks (``resnet(input_tensor=h, temb=temb)``), so both are handled.
    """

    def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        x = args[0] if args else kwargs["input_tensor"]  # (N, C_h + C_s, H, W)
        h, hs = x[:, :backbone_channels], x[:, backbone_channels:]
        # The private twins skip the NaN checks: no device sync per forward.
        x = torch.cat([_backbone_scale(h, b, variant), _skip_filter(hs, s)], dim=1)
        if args:
            return (x, *args[1:]), kwargs
        return args, {**kwargs, "input_tensor": x}

    return hook


class FreeUHandle(ModelHandle):
    """The hooks of one :meth:`FreeU.apply`: a context manager, and ``remove()`` for notebooks.

    ``remove()`` detaches every hook (the UNet then behaves exactly as before :meth:`FreeU.apply`)
    and is idempotent; it runs on leaving the ``with`` block, also on an exception (which then
    propagates). ``active``: whether the hooks are still attached.
    """

    def __init__(
        self,
        unet: torch.nn.Module,
        hooks: list[torch.utils.hooks.RemovableHandle],
        targets: list[FreeUTarget],
    ) -> None:
        super().__init__(unet, [hook.remove for hook in hooks], _ACTIVE)
        self.targets = targets

    def _changed(self) -> str:
        return f"{len(self.targets)} targets"


@dataclass(frozen=True)
class FreeU:
    """FreeU's factors and where to apply them; :meth:`apply` attaches it to a UNet.

    Args:
        b1, b2: backbone factors of stages 1 and 2 (amplify the first ``C_h // 2`` channels of ``h``).
        s1, s2: skip factors of stages 1 and 2 (scale the lowest frequencies of ``hs``; see
            :func:`freqlab.spectral.freeu_skip_filter` for the exact 2x2 block, threshold 1).
            Any finite number >= 0 is accepted, ``0.0`` included (unlike diffusers, where a zero
            factor disables FreeU); negative factors are refused (they flip the features' sign).
            The papers' range is ``1 <= b <= 1.6`` and ``0 <= s <= 1`` (recommended factors:
            :mod:`freqlab.models.registry`); b < 1 (attenuation) and s > 1 are allowed for
            ablations.
        variant: ``"v1"`` constant ``b`` (official demo code, diffusers) or ``"v2"``
            structure-related ``(b - 1)·m + 1`` with ``m`` the per-sample (per-frame for video)
            min-max normalised channel mean of ``h`` (official README, paper Eq. 2-4).
        stages: ``"diffusers"`` (up blocks with ``resolution_idx`` 0 and 1) or ``"official"`` (by the
            channel count of ``h``: the largest ``block_out_channels`` width -> stage 1, the
            second-largest distinct width -> stage 2). See the module docstring.
    """

    b1: float
    b2: float
    s1: float
    s2: float
    variant: str = "v1"
    stages: str = "diffusers"

    def __post_init__(self) -> None:
        for name in _FACTORS:
            object.__setattr__(self, name, _check_factor(name, getattr(self, name)))
        if self.variant not in FREEU_VARIANTS:
            raise ValueError(f"variant must be one of {FREEU_VARIANTS}, got {self.variant!r}")
        if self.stages not in FREEU_STAGES:
            raise ValueError(f"stages must be one of {FREEU_STAGES}, got {self.stages!r}")

    def _stage(self, unet: torch.nn.Module, point: FreeUTarget) -> int | None:
        if self.stages == "diffusers":
            # diffusers dispatches on the block's resolution_idx (its index in up_blocks).
            resolution_idx = unet.up_blocks[point.up_block].resolution_idx
            return {0: 1, 1: 2}.get(resolution_idx)
        widths = sorted({int(c) for c in unet.config.block_out_channels}, reverse=True)
        if point.backbone_channels == widths[0]:
            return 1
        if len(widths) > 1 and point.backbone_channels == widths[1]:
            return 2
        return None

    def _all_points(self, unet: torch.nn.Module) -> list[FreeUTarget]:
        points = []
        for point in _concat_points(unet):
            stage = self._stage(unet, point)
            if stage is not None:
                b, s = (self.b1, self.s1) if stage == 1 else (self.b2, self.s2)
                point = FreeUTarget(**{**vars(point), "stage": stage, "b": b, "s": s})
            points.append(point)
        return points

    def targets(self, unet: object, include_untouched: bool = False) -> list[FreeUTarget]:
        """The concatenation points this FreeU modifies on ``unet`` (a UNet or a pipeline).

        Args:
            unet: a supported UNet, or a pipeline with one as ``.unet``.
            include_untouched: also list the points FreeU leaves alone (``stage=None``).

        Returns:
            :class:`FreeUTarget` s in decoder order, with their channel split, stage and factors.
            Nothing is run and nothing is attached.
        """
        points = self._all_points(_resolve_unet(unet))
        return points if include_untouched else [p for p in points if p.stage is not None]

    def describe(self, unet: object) -> str:
        """A table of every concatenation point of ``unet`` and the factors it gets here."""
        model = _resolve_unet(unet)
        widths = tuple(int(c) for c in model.config.block_out_channels)
        lines = [
            f"{self!r} on {type(model).__name__} (block_out_channels {widths})",
            f"{'up':>3} {'res':>3}  {'block':<24} {'h_ch':>5} {'skip_ch':>7}  {'stage':>5} "
            f"{'b':>8} {'s':>8}",
        ]
        for p in self._all_points(model):
            tail = "    -" if p.stage is None else f"{p.stage:>5} {p.b:>8.4g} {p.s:>8.4g}"
            lines.append(
                f"{p.up_block:>3} {p.resnet:>3}  {p.block_type:<24} {p.backbone_channels:>5} "
                f"{p.skip_channels:>7}  {tail}"
            )
        return "\n".join(lines)

    def apply(self, unet: object) -> FreeUHandle:
        """Attach FreeU to ``unet`` (a supported UNet, or a pipeline with one as ``.unet``).

        Use as ``with freeu.apply(unet): ...`` or ``handle = freeu.apply(unet)`` ...
        ``handle.remove()``. Only forward pre-hooks are added (on the targeted up-block resnets);
        weights, buffers and attributes are left alone.

        Raises:
            ValueError: ``unet`` is not supported (a diffusion-transformer pipeline such as Wan
                or CogVideoX: one message naming FreeU and its classes), already has FreeU hooks
                from freqlab, or has diffusers' own FreeU enabled (the two would compound).
        """
        model = _resolve_unet(unet)
        if model in _ACTIVE:
            raise ValueError("unet already has FreeU hooks attached; remove() them first")
        if any(all(getattr(block, k, None) for k in _FACTORS) for block in model.up_blocks):
            raise ValueError(
                "unet has diffusers' FreeU enabled (enable_freeu); call disable_freeu() first"
            )
        targets = self.targets(model)
        hooks = []
        try:
            for t in targets:
                resnet = model.up_blocks[t.up_block].resnets[t.resnet]
                hook = _freeu_pre_hook(t.backbone_channels, t.b, t.s, self.variant)
                hooks.append(resnet.register_forward_pre_hook(hook, with_kwargs=True))
        except BaseException:
            for handle in hooks:
                handle.remove()
            raise
        _ACTIVE.add(model)
        return FreeUHandle(model, hooks, targets)
