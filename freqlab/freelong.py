"""FreeLong on diffusers video UNets: SpectralBlend temporal attention for long videos.

FreeLong (Lu, Liang, Zhu, Yang, "FreeLong: Training-Free Long Video Generation with SpectralBlend
Temporal Attention", NeurIPS 2024, arXiv:2407.19918) lets a model trained on short clips sample
longer videos, training-free. Global temporal attention over all ``F`` frames keeps the video
consistent but blurs its details; attention inside a local window of about the training length
keeps the details but drifts. FreeLong runs every temporal attention layer both ways and keeps the
low 3D frequencies of the global result and the high ones of the local result::

    with FreeLong(window=16).apply(pipe):
        frames = pipe(prompt, num_frames=64).frames

For a temporal attention layer with input ``x`` ``(B·h·w, F, C)``:

* ``G = attn(x)``: global attention, every frame attends to every frame;
* ``L = attn(x, mask)``: local attention, frame ``i`` attends to the keys of :func:`local_mask`
  (``[i - W//2, i + W//2]`` clipped to the video, the ``"adjusted"`` variant shifting an edge
  window back to ``W`` keys: 16 keys at the edges and 17 inside for ``W = 16``);
* SpectralBlend (:func:`spectral_blend`): ``Re IFFT3(FFT3(G)·P + FFT3(L)·(1 - P))`` over
  ``(F, h, w)`` of the ``(B, C, F, h, w)`` features, ``P`` = :func:`freqlab.spectral.lowpass_filter`
  (Gaussian, ``d_s = d_t = 0.25`` as the official code) built for the actual ``(F, h, w)``;
* at the highest-resolution level (the temporal transformers whose feature map has the latent's
  ``h x w``) the output is ``L`` alone (``skip_highest_resolution``, as the official code skips
  its 40x64 level), at every denoising step.

``FreeLong(freenoise=True)`` (default) also samples from FreeNoise's rescheduled noise
(:meth:`freqlab.freenoise.FreeNoise.reschedule`, context ``window``, stride ``min(4, window)``), as
the official pipelines do; FreeNoise's window fusion is not used.

Where the official code (aniki-ly/FreeLong at 98cf95e, LaVie and VideoCrafter2 examples) leaves a
choice or is hard-coded, freqlab's choices (see the README's FreeLong section):

* **Which layers.** Every temporal self-attention layer: ``attn1`` and ``attn2`` of each block of
  AnimateDiff's motion modules and of ``UNet3DConditionModel``'s temporal transformers
  (``transformer_in`` included, treated like the others: UNCONFIRMED how the authors would treat
  it), as the VideoCrafter2 example blends both self-attention sub-layers of its temporal blocks.
* **Mask.** ``mask="adjusted"`` (default) is LaVie's ``get_adjusted_local_mask``; ``"strict"`` is
  VideoCrafter2's ``get_local_mask`` (clipped, not re-centred: 9 keys at the first frame).
* **Sizes.** The mask and the filter are built for the actual ``F`` and ``(h, w)`` and any batch
  (the official code hard-codes 128 frames, LaVie's 320x512 token counts and a CFG batch of 2).
* **Blend point.** The streams are blended after ``to_out``, before the block adds its residual
  (the official VideoCrafter2 code blends after adding it to each stream; since ``P + (1 - P) =
  1`` that is the same up to float rounding). Both streams share one Q/K/V projection (the same
  input, so the same values).
* **AnimateDiff beyond ``max_seq_length``.** Motion modules add a sinusoidal positional embedding
  of ``max_seq_length`` positions (32) before attention; global attention over more frames needs
  more positions and the official code has no AnimateDiff path (UNCONFIRMED how the authors
  would do it). ``positions=None`` (default) refuses with one error naming ``positions``;
  ``"extend"`` evaluates the same sinusoid at the positions past the table; ``"interpolate"``
  evaluates it at ``f·P/F`` (position interpolation, Chen et al. 2023, arXiv:2306.15595), so
  every frame's position lies in the trained range. ``UNet3DConditionModel`` has no temporal
  positional embedding: any length works.
* **Noise.** The shuffles draw from the call's generator as diffusers' FreeNoise (the official
  code uses unseeded Python ``random``, not reproducible); videos of at most ``window`` frames
  keep their noise (nothing to reschedule).

The temporal attention is computed here (SDPA, as diffusers' ``AttnProcessor2_0``) from the
layer's own weights, so only diffusers' default processors are accepted (``AttnProcessor2_0``,
``AttnProcessor``); a processor set while FreeLong is applied is not called.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention import FreeNoiseTransformerBlock
from diffusers.models.attention_processor import Attention, AttnProcessor, AttnProcessor2_0
from diffusers.models.embeddings import SinusoidalPositionalEmbedding

from freqlab.checks import check_bool, check_int
from freqlab.freenoise import FreeNoise, patch_noise
from freqlab.freenoise_attention import TEMPORAL_TRANSFORMERS
from freqlab.handles import ModelHandle, check_not_applied, pipe_unet, run_undo
from freqlab.spectral import freq_mix_3d, lowpass_filter, validate_filter_args

__all__ = [
    "MASK_VARIANTS",
    "POSITION_STRATEGIES",
    "FreeLong",
    "FreeLongHandle",
    "local_mask",
    "position_table",
    "spectral_blend",
]

MASK_VARIANTS = ("adjusted", "strict")
POSITION_STRATEGIES = ("extend", "interpolate")
# The processors whose computation the FreeLong attention reproduces.
_PROCESSORS = (AttnProcessor2_0, AttnProcessor)

# UNets with FreeLong applied now: a second apply() on the same model is refused.
_ACTIVE: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()


# --------------------------------------------------------------------------- the operators


def local_mask(
    num_frames: int,
    window: int,
    variant: str = "adjusted",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The local stream's attention mask, ``(F, F)`` bool, ``True`` where query ``i`` may attend
    to key ``j``.

    Row ``i`` allows ``[i - W//2, i + W//2 + 1)`` clipped to ``[0, F)`` (``W + 1`` keys inside for
    even ``W``, ``W`` for odd). ``"adjusted"`` (LaVie's ``get_adjusted_local_mask``) then shifts a
    clipped window to ``min(W, F)`` keys: ``[0, W)`` at the start, ``[F - W, F)`` at the end;
    ``"strict"`` (VideoCrafter2's ``get_local_mask``) keeps it clipped. Every key is allowed
    with ``W >= F`` (adjusted) or ``W // 2 >= F - 1`` (strict): then the two streams coincide.
    """
    num_frames = check_int("num_frames", num_frames)
    window = check_int("window", window)
    if variant not in MASK_VARIANTS:
        raise ValueError(f"mask must be one of {MASK_VARIANTS}, got {variant!r}")
    i = torch.arange(num_frames)
    start = (i - window // 2).clamp(min=0)
    end = (i + window // 2 + 1).clamp(max=num_frames)
    if variant == "adjusted":
        short = (end - start) < window
        # A window clipped at the start grows to the right, one clipped at the end to the left.
        end = torch.where(short & (start == 0), torch.clamp(start + window, max=num_frames), end)
        start = torch.where(short & (start > 0), torch.clamp(end - window, min=0), start)
    keys = torch.arange(num_frames)[None, :]
    return ((keys >= start[:, None]) & (keys < end[:, None])).to(device)


def spectral_blend(
    global_states: torch.Tensor,
    local_states: torch.Tensor,
    height: int,
    width: int,
    method: str = "gaussian",
    d_s: float = 0.25,
    d_t: float = 0.25,
    order: float = 4,
) -> torch.Tensor:
    """SpectralBlend: the low frequencies of ``global_states``, the high ones of ``local_states``.

    Args:
        global_states, local_states: ``(B·h·w, F, C)`` temporal-attention features, the spatial
            positions ordered ``(B, h, w)`` as diffusers' temporal transformers fold them.
        height, width: the feature map's ``h`` and ``w``.
        method, d_s, d_t, order: the low-pass filter ``P``
            (:func:`freqlab.spectral.lowpass_filter`).

    Returns:
        ``Re IFFT3(FFT3(G)·P + FFT3(L)·(1 - P))`` over ``(F, h, w)`` of each ``(B, C)`` slice,
        ``(B·h·w, F, C)`` in the inputs' dtype (the FFTs run in float32; float64 stays float64).
    """
    if global_states.shape != local_states.shape or global_states.dim() != 3:
        raise ValueError(
            "global_states and local_states must be (B*h*w, F, C) tensors of one shape, got "
            f"{tuple(global_states.shape)} and {tuple(local_states.shape)}"
        )
    height, width = check_int("height", height), check_int("width", width)
    tokens, frames, channels = global_states.shape
    if tokens % (height * width):
        raise ValueError(
            f"height x width ({height}x{width}) must divide the {tokens} spatial positions"
        )
    batch = tokens // (height * width)

    def video(x: torch.Tensor) -> torch.Tensor:  # (B·h·w, F, C) -> (B, C, F, h, w)
        return x.reshape(batch, height, width, frames, channels).permute(0, 4, 3, 1, 2)

    dtype = torch.float64 if global_states.dtype == torch.float64 else torch.float32
    lpf = lowpass_filter(
        (frames, height, width), method, d_s, d_t, order, global_states.device, dtype
    )
    mixed = freq_mix_3d(video(global_states), video(local_states), lpf)
    return mixed.permute(0, 3, 4, 2, 1).reshape(tokens, frames, channels)


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """diffusers' ``SinusoidalPositionalEmbedding`` formula at any (fractional) positions:
    ``(P,)`` -> ``(P, dim)`` float64, ``sin`` in the even columns, ``cos`` in the odd ones."""
    positions = positions.to(torch.float64)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    table = torch.zeros(positions.shape[0], dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(positions * div)
    table[:, 1::2] = torch.cos(positions * div)[:, : dim // 2]
    return table


def position_table(pe: torch.Tensor, num_frames: int, strategy: str) -> torch.Tensor:
    """The positional embeddings of ``num_frames`` frames from a table ``pe`` ``(1, P, D)`` of
    ``P < num_frames`` positions: ``(1, F, D)`` in ``pe``'s dtype and device.

    ``"extend"``: ``pe``'s own rows, then the sinusoid at positions ``P .. F-1``.
    ``"interpolate"``: the sinusoid at positions ``f·P/F`` (all inside ``[0, P)``).
    """
    length, dim = pe.shape[1], pe.shape[2]
    if strategy == "extend":
        rest = sinusoid(torch.arange(length, num_frames), dim).to(pe.device, pe.dtype)
        return torch.cat([pe, rest[None]], dim=1)
    if strategy == "interpolate":
        scaled = torch.arange(num_frames, dtype=torch.float64) * (length / num_frames)
        return sinusoid(scaled, dim).to(pe.device, pe.dtype)[None]
    raise ValueError(f"positions must be None or one of {POSITION_STRATEGIES}, got {strategy!r}")


# --------------------------------------------------------------------------- what apply() changes


class _Level:
    """The state one temporal transformer's attentions read during its forward: its feature
    map's ``(h, w)``, and whether that is the highest-resolution level (local stream only)."""

    def __init__(self) -> None:
        self.hw: tuple[int, int] | None = None
        self.local_only = False


class _Target:
    """One temporal transformer: ``unet.<name>``, its self-attention layers and the positional
    embeddings of its blocks."""

    def __init__(self, name: str, transformer: torch.nn.Module) -> None:
        self.name = name
        self.transformer = transformer
        self.attentions: list[tuple[str, Attention]] = []
        self.pos_embeds: list[SinusoidalPositionalEmbedding] = []
        self.blocks: list[tuple[str, torch.nn.Module]] = []
        self.level = _Level()


def _targets(unet: torch.nn.Module) -> list[_Target]:
    """The temporal transformers of ``unet`` and what FreeLong changes in them, in module order.

    Raises:
        ValueError: one that FreeLong cannot run (diffusers' FreeNoise blocks, a non-default
            attention processor, a non-sinusoidal positional embedding, or forwards already
            overridden on the instance, e.g. by freqlab's FreeNoise).
    """
    found = []
    for name, module in unet.named_modules():
        if not isinstance(module, TEMPORAL_TRANSFORMERS):
            continue
        target = _Target(name, module)
        for i, block in enumerate(module.transformer_blocks):
            where = f"{name}.transformer_blocks.{i}"
            if isinstance(block, FreeNoiseTransformerBlock):
                raise ValueError(
                    f"pipe has diffusers' FreeNoise enabled ({where}); call "
                    "pipe.disable_free_noise() first (FreeLong(freenoise=True) brings its noise)"
                )
            if "forward" in vars(block):
                raise ValueError(
                    f"pipe: {where}.forward is overridden (freqlab's FreeNoise applied?); "
                    "FreeLong and FreeNoise's window fusion do not combine "
                    "(FreeLong(freenoise=True) brings FreeNoise's noise rescheduling)"
                )
            target.blocks.append((where, block))
            pe = getattr(block, "pos_embed", None)
            if pe is not None:
                if not isinstance(pe, SinusoidalPositionalEmbedding):
                    raise ValueError(
                        f"pipe: {where}.pos_embed is a {type(pe).__name__}; FreeLong supports "
                        "sinusoidal temporal positional embeddings only"
                    )
                target.pos_embeds.append(pe)
            for slot in ("attn1", "attn2"):
                attn = getattr(block, slot, None)
                if not isinstance(attn, Attention) or attn.is_cross_attention:
                    continue
                path = f"{where}.{slot}"
                if type(attn.processor) not in _PROCESSORS:
                    raise ValueError(
                        f"pipe: {path} uses {type(attn.processor).__name__}; FreeLong computes "
                        "temporal attention itself and supports diffusers' default processors "
                        "(AttnProcessor2_0, AttnProcessor) only"
                    )
                if attn.spatial_norm is not None or attn.group_norm is not None:
                    raise ValueError(f"pipe: {path} has a spatial or group norm FreeLong lacks")
                if "forward" in vars(attn):
                    raise ValueError(f"pipe: {path}.forward is already overridden")
                target.attentions.append((path, attn))
        if target.attentions:
            found.append(target)
    return found


def _attention_forward(
    attn: Attention, path: str, level: _Level, settings: FreeLong, masks: dict
) -> Callable[..., torch.Tensor]:
    """A replacement for ``attn.forward``: ``(B·h·w, F, C)`` -> ``(B·h·w, F, C)``, the two
    streams blended (or the local one alone at the highest resolution)."""

    def streams(x: torch.Tensor, mask: torch.Tensor | None, both: bool) -> list[torch.Tensor]:
        """The local stream (``mask``), and the global one if ``both`` and they differ, each
        through ``to_out`` as diffusers' AttnProcessor2_0 computes it."""
        tokens = x.shape[0]
        query, key, value = attn.to_q(x), attn.to_k(x), attn.to_v(x)
        head_dim = key.shape[-1] // attn.heads

        def heads(t: torch.Tensor) -> torch.Tensor:  # (N, F, heads·d) -> (N, heads, F, d)
            return t.view(tokens, -1, attn.heads, head_dim).transpose(1, 2)

        query, key, value = heads(query), heads(key), heads(value)
        # The scale each default processor uses: AttnProcessor2_0 leaves SDPA's 1/sqrt(head_dim).
        scale = None if isinstance(attn.processor, AttnProcessor2_0) else attn.scale
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        out = []
        for m in [mask, None] if both and mask is not None else [mask]:
            h = F.scaled_dot_product_attention(query, key, value, attn_mask=m, scale=scale)
            h = h.transpose(1, 2).reshape(tokens, -1, attn.heads * head_dim).to(query.dtype)
            h = attn.to_out[1](attn.to_out[0](h))
            if attn.residual_connection:
                h = h + x
            out.append(h / attn.rescale_output_factor)
        return out

    def forward(
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **cross_attention_kwargs: Any,  # ignored, as diffusers' default processors ignore them
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError(
                f"FreeLong: {path} got encoder_hidden_states or attention_mask; it replaces "
                "temporal self-attention only"
            )
        if type(attn.processor) not in _PROCESSORS:
            # Set after apply() (e.g. by ByTheWay): FreeLong's own attention would bypass it.
            raise ValueError(
                f"FreeLong: {path}'s processor was replaced by {type(attn.processor).__name__} "
                "after FreeLong was applied; FreeLong computes temporal attention itself and "
                "would bypass it (apply the other method first to get one clear refusal)"
            )
        if level.hw is None or hidden_states.dim() != 3:
            raise ValueError(
                f"FreeLong: {path} must be called by its temporal transformer with "
                "(B*h*w, F, C) features (FreeLong reads h and w there)"
            )
        frames = hidden_states.shape[1]
        key = (frames, hidden_states.device)
        if key not in masks:
            mask = local_mask(frames, settings.window, settings.mask, hidden_states.device)
            masks[key] = None if bool(mask.all()) else mask  # None: the streams coincide
        mask = masks[key]
        out = streams(hidden_states, mask, both=not level.local_only)
        if level.local_only:
            return out[0]
        local, global_ = out[0], out[-1]  # the same tensor when every key is allowed
        return spectral_blend(
            global_, local, *level.hw, settings.method, settings.d_s, settings.d_t, settings.order
        )

    return forward


def _positions_forward(
    pe: SinusoidalPositionalEmbedding, strategy: str
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A replacement for ``pe.forward``: the module's own up to its length, ``strategy``'s
    table (:func:`position_table`) past it."""
    original = pe.forward
    tables: dict[tuple, torch.Tensor] = {}

    def forward(x: torch.Tensor) -> torch.Tensor:
        frames, length = x.shape[1], pe.pe.shape[1]
        if frames <= length:
            return original(x)
        key = (frames, pe.pe.device, pe.pe.dtype)
        if key not in tables:
            tables[key] = position_table(pe.pe, frames, strategy)
        return x + tables[key]

    return forward


def _override(obj: Any, name: str, value: Any, undo: list[Callable[[], None]]) -> None:
    """Set ``obj.name`` on the instance (it had none there, checked before) with its undo step."""
    setattr(obj, name, value)
    undo.append(lambda: delattr(obj, name))


class _Run:
    """The state of the UNet call in progress: its latent ``(h, w)``."""

    def __init__(self) -> None:
        self.hw: tuple[int, int] | None = None


# --------------------------------------------------------------------------- handle


class FreeLongHandle(ModelHandle):
    """What one :meth:`FreeLong.apply` changed: a context manager, and ``remove()``.

    ``layers`` names the attention layers that run FreeLong (``"<transformer>.transformer_blocks.
    <i>.attn1"``). ``remove()`` undoes every change in reverse order and is idempotent; it runs on
    leaving the ``with`` block, also on an exception (which then propagates).
    """

    def __init__(self, unet: torch.nn.Module, layers: list[str], undo: list[Callable[[], None]]):
        super().__init__(unet, undo, _ACTIVE)
        self.layers = layers

    def _changed(self) -> str:
        return f"{len(self.layers)} attention layers"


# --------------------------------------------------------------------------- FreeLong


@dataclass(frozen=True)
class FreeLong:
    """FreeLong's settings; :meth:`apply` puts it on a pipeline (or a UNet).

    Args:
        window: the local stream's window ``W`` in frames (``>= 1``; the official 16, the motion
            modules' training length). With ``W >= F`` (``mask="adjusted"``) the two streams
            coincide and FreeLong is plain sampling up to float rounding.
        method, d_s, d_t: SpectralBlend's low-pass filter (:func:`freqlab.spectral.lowpass_filter`;
            the official Gaussian with ``d_s = d_t = 0.25``).
        skip_highest_resolution: the highest-resolution level keeps the local stream alone (the
            official code's choice); ``False`` blends there too.
        freenoise: ``True`` samples from FreeNoise's rescheduled noise with context ``window`` and
            stride ``min(4, window)`` (the official 16 and 4); a :class:`freqlab.FreeNoise` sets
            the noise's own settings (its window fusion is not used); ``False`` keeps the noise.
        order: the Butterworth order (``method="butterworth"`` only).
        mask: the local window's edges, ``"adjusted"`` (LaVie, default) or ``"strict"``
            (VideoCrafter2); see :func:`local_mask`.
        positions: AnimateDiff past its motion modules' ``max_seq_length``: ``None`` refuses,
            ``"extend"`` or ``"interpolate"`` (see :func:`position_table` and the module
            docstring). Up to ``max_seq_length``, and on UNet3D, it changes nothing.
    """

    window: int = 16
    method: str = "gaussian"
    d_s: float = 0.25
    d_t: float = 0.25
    skip_highest_resolution: bool = True
    freenoise: bool | FreeNoise = True
    order: float = 4
    mask: str = "adjusted"
    positions: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", check_int("window", self.window))
        validate_filter_args(self.method, self.d_s, self.d_t, self.order)
        check_bool("skip_highest_resolution", self.skip_highest_resolution)
        if not isinstance(self.freenoise, (bool, FreeNoise)):
            raise ValueError(
                f"freenoise must be a bool or a freqlab.FreeNoise, got {self.freenoise!r}"
            )
        if self.mask not in MASK_VARIANTS:
            raise ValueError(f"mask must be one of {MASK_VARIANTS}, got {self.mask!r}")
        if self.positions is not None and self.positions not in POSITION_STRATEGIES:
            raise ValueError(
                f"positions must be None or one of {POSITION_STRATEGIES}, got {self.positions!r}"
            )
        object.__setattr__(self, "d_s", float(self.d_s))
        object.__setattr__(self, "d_t", float(self.d_t))

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (a FreeNoise as its own config dict)."""
        return asdict(self)

    @property
    def noise(self) -> FreeNoise | None:
        """The FreeNoise whose rescheduling FreeLong samples from (``None``: ``freenoise=False``)."""
        if isinstance(self.freenoise, FreeNoise):
            return self.freenoise
        if not self.freenoise:
            return None
        return FreeNoise(context_length=self.window, context_stride=min(4, self.window))

    def reschedule(self, noise: torch.Tensor, generator: Any = None) -> torch.Tensor:
        """The initial noise FreeLong samples from, from i.i.d. noise ``(B, C, F, h, w)``.

        :meth:`freqlab.FreeNoise.reschedule` of :attr:`noise` (same generators, same order), or
        ``noise`` itself with ``freenoise=False`` or fewer frames than the noise's context
        (nothing to reschedule there; FreeNoise refuses such videos for its window fusion).
        """
        freenoise = self.noise
        if freenoise is None:
            return noise
        if isinstance(noise, torch.Tensor) and noise.ndim == 5:
            if noise.shape[2] < freenoise.context_length:
                return noise
        return freenoise.reschedule(noise, generator)

    # ----------------------------------------------------------------------- apply

    def apply(self, pipe: Any) -> FreeLongHandle:
        """Put FreeLong on ``pipe`` (a video pipeline, or its UNet alone for the attention).

        Inside (``with freelong.apply(pipe): ...``, or until ``handle.remove()``):

        * every temporal self-attention layer's ``forward`` runs the two streams and blends them
          (forward pre/post hooks on the temporal transformers and the UNet tell it ``(h, w)``
          and the latent's size);
        * with ``positions``, the motion modules' positional embeddings' ``forward`` covers
          videos past ``max_seq_length``;
        * with ``freenoise``, on a pipeline: ``pipe.prepare_latents`` (text-to-video) reschedules
          the noise it draws itself and ``pipe._freqlab_noise_transform`` is :meth:`reschedule`
          (FreeInit and FreqPrior apply it to theirs), via
          :func:`freqlab.freenoise.patch_noise`.

        Nothing else changes: no module is replaced, no weight or buffer touched.

        Raises:
            ValueError: ``pipe`` is a diffusion-transformer pipeline (Wan, CogVideoX: one
                message naming FreeLong and its classes), has no temporal attention, has FreeLong, diffusers' FreeNoise or
                freqlab's FreeNoise applied, or a temporal attention FreeLong cannot run (see
                the module docstring). A UNet call on more frames than the motion modules'
                ``max_seq_length`` with ``positions=None`` raises one naming ``positions``.
        """
        unet = pipe_unet(pipe, "FreeLong")
        check_not_applied(unet, _ACTIVE, "FreeLong")
        if getattr(pipe, "free_noise_enabled", False):
            raise ValueError(
                "pipe has diffusers' FreeNoise enabled; call disable_free_noise() first"
            )
        targets = _targets(unet)
        if not targets:
            raise ValueError(
                f"pipe: {type(unet).__name__} has no temporal attention for FreeLong (it supports "
                "UNetMotionModel and UNet3DConditionModel)"
            )
        if self.positions is not None:
            for t in targets:
                for pe in t.pos_embeds:
                    if "forward" in vars(pe):
                        raise ValueError(f"pipe: {t.name}'s pos_embed.forward is overridden")
        undo: list[Callable[[], None]] = []
        try:
            self._install(unet, targets, undo)
            if unet is not pipe and self.noise is not None:
                patch_noise(pipe, self.reschedule, undo)
        except BaseException:
            run_undo(undo)
            raise
        _ACTIVE.add(unet)
        layers = [path for t in targets for path, _ in t.attentions]
        return FreeLongHandle(unet, layers, undo)

    def _install(self, unet: torch.nn.Module, targets: list[_Target], undo: list) -> None:
        run, masks = _Run(), {}
        limits = [int(pe.pe.shape[1]) for t in targets for pe in t.pos_embeds]
        max_frames = min(limits) if limits else None
        blocks = [(where, block) for t in targets for where, block in t.blocks]

        def unet_pre(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            sample = kwargs["sample"] if "sample" in kwargs else (args[0] if args else None)
            run.hw = None
            if not isinstance(sample, torch.Tensor) or sample.ndim != 5:
                return  # (B, C, F, h, w) expected; the attentions then refuse to run
            for where, block in blocks:
                if "forward" in vars(block):
                    raise ValueError(
                        f"pipe: {where}.forward was overridden after FreeLong was applied "
                        "(freqlab's FreeNoise?); FreeLong and FreeNoise's window fusion do not "
                        "combine (FreeLong(freenoise=True) brings FreeNoise's noise)"
                    )
            frames = sample.shape[2]
            if max_frames is not None and frames > max_frames and self.positions is None:
                raise ValueError(
                    f"positions=None: FreeLong's global attention over {frames} frames needs "
                    f"positional embeddings past the motion modules' max_seq_length "
                    f"({max_frames}); pass positions='extend' or positions='interpolate' "
                    f"(README: FreeLong) or sample at most {max_frames} frames"
                )
            run.hw = (int(sample.shape[-2]), int(sample.shape[-1]))

        def unet_post(module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            run.hw = None

        undo.append(unet.register_forward_pre_hook(unet_pre, with_kwargs=True).remove)
        undo.append(
            unet.register_forward_hook(unet_post, with_kwargs=True, always_call=True).remove
        )
        for t in targets:
            self._level_hooks(t, run, undo)
            for path, attn in t.attentions:
                forward = _attention_forward(attn, path, t.level, self, masks)
                _override(attn, "forward", forward, undo)
            if self.positions is not None:
                for pe in t.pos_embeds:
                    _override(pe, "forward", _positions_forward(pe, self.positions), undo)

    def _level_hooks(self, target: _Target, run: _Run, undo: list) -> None:
        """Hooks on ``target``'s transformer that set its level's ``(h, w)`` during its forward."""
        level, skip = target.level, self.skip_highest_resolution

        def pre(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            # hidden_states (B·F, C, h, w): positional in the mid block's motion module call.
            x = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
            level.hw = (int(x.shape[-2]), int(x.shape[-1]))
            level.local_only = skip and run.hw is not None and level.hw == run.hw

        def post(module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            level.hw, level.local_only = None, False

        transformer = target.transformer
        undo.append(transformer.register_forward_pre_hook(pre, with_kwargs=True).remove)
        undo.append(
            transformer.register_forward_hook(post, with_kwargs=True, always_call=True).remove
        )
