"""FreeNoise's window-based temporal attention fusion, at transformer-block level.

A temporal transformer block sees ``hidden_states`` of shape ``(N, F, C)``: ``N = B·h·w`` spatial
positions, ``F`` frames, ``C`` channels. FreeNoise (Qiu et al., ICLR 2024, arXiv:2310.15169, Eq. 9)
runs the block's attention on overlapping windows of ``L = context_length`` frames that start every
``S = context_stride`` frames, and fuses the windows' outputs frame by frame with weights ``ω``::

    for each window [s, s + L):   h_w = attention_part(x[:, s:s+L])       (N, L, C)
    fused[:, f] = Σ_w ω[f - s_w] · h_w[:, f - s_w] / Σ_w ω[f - s_w]          (N, F, C)
    out = fused + ff(norm3(fused))                                          (N, F, C)

where ``attention_part`` is the block's ``norm1 -> [pos_embed] -> attn1 -> +residual -> norm2 ->
[pos_embed] -> attn2 -> +residual`` on the window alone, so a sinusoidal positional embedding
restarts at position 0 in every window, and the feed-forward runs once on the fused sequence.

**Block level, not attention level.** This is how diffusers' ``FreeNoiseTransformerBlock`` and the
official AnimateDiff port (arthur-qiu/FreeNoise-AnimateDiff, ``motion_module.py``) window. The
official VideoCrafter code (AILab-CVC/FreeNoise, ``lvdm/modules/attention_freenoise.py``) windows
each attention *layer* instead: ``attn1``'s per-window outputs are fused before the residual, and
``attn2`` then sees the fused sequence. The two are not numerically equal (attn2's windows see
different inputs); freqlab uses block level for every UNet (UNetMotionModel and
UNet3DConditionModel, VideoCrafter2's included), so one definition holds across models and matches
diffusers, which tests/test_freenoise.py checks against ``enable_free_noise``.

**Windows** are diffusers': ``s = 0, S, 2S, ...`` while ``s + L <= F``; if the last one does not end
at ``F``, a tail window ``[F - L, F)`` is added that contributes only its last ``F - end`` frames
(the official code leaves those frames at zero). diffusers adds the tail's weights to the counts
as ``weights[:, -tail]``, one scalar, instead of ``weights[:, -tail:]``, which divides the last
frames by the wrong count when ``tail >= 2`` under non-flat weights (F = 26 with L = 16, S = 4:
the last frame comes out at half its value). ``fix_tail=True`` (freqlab's default) uses the
slice; ``fix_tail=False`` reproduces diffusers.

Half-precision inputs are accumulated in float32 (diffusers accumulates in the input dtype).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from diffusers.models.attention import BasicTransformerBlock, FreeNoiseTransformerBlock
from diffusers.models.embeddings import SinusoidalPositionalEmbedding
from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel
from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D

__all__ = [
    "WEIGHTINGS",
    "TemporalBlock",
    "fusion_counts",
    "fusion_windows",
    "temporal_blocks",
    "window_weights",
    "windowed_forward",
]

WEIGHTINGS = ("pyramid", "flat", "delayed_reverse_sawtooth")
# The temporal transformers whose blocks attend over frames: AnimateDiff's motion modules
# (UNetMotionModel) and UNet3DConditionModel's transformer_in / temp_attentions.
TEMPORAL_TRANSFORMERS = (AnimateDiffTransformer3D, TransformerTemporalModel)


def window_weights(length: int, weighting: str) -> list[float]:
    """The fusion weight of each of a window's ``length`` frames, as diffusers defines them.

    * ``"pyramid"``: ``[1, 2, ..., m, m, ..., 2, 1]`` for even ``length = 2m`` (FreeNoise's
      triangle, the official ``generate_weight_sequence``), ``[1, ..., m-1, m, m-1, ..., 1]`` for
      odd ``length = 2m - 1``.
    * ``"flat"``: all ones (a plain average).
    * ``"delayed_reverse_sawtooth"``: ``[0.01] * (m - 1) + [m] + [m, ..., 1]`` for even
      ``length = 2m``, ``[0.01] * (m - 1) + [m, ..., 1]`` for odd ``length = 2m - 1`` (its
      docstring's ``[0.01, 0.01, 3, 2, 1]`` for 5; diffusers' code builds ``m`` copies of 0.01,
      ``length + 1`` weights, and then fails to broadcast them).
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if weighting == "flat":
        return [1.0] * length
    even = length % 2 == 0
    mid = length // 2 if even else (length + 1) // 2
    if weighting == "pyramid":
        rise = [float(k) for k in range(1, mid + 1)] if even else [float(k) for k in range(1, mid)]
        return rise + ([] if even else [float(mid)]) + rise[::-1]
    fall = [float(k) for k in range(mid, 0, -1)]
    return [0.01] * (mid - 1) + ([float(mid)] if even else []) + fall


def fusion_windows(
    num_frames: int, context_length: int, context_stride: int
) -> list[tuple[int, int, int]]:
    """``(start, end, keep)`` of every window: frames ``[start, end)`` are attended together and
    the last ``keep`` of them are accumulated (``keep = end - start`` except for the tail window).

    Raises:
        ValueError: ``num_frames < context_length`` (no window fits in the video).
    """
    if num_frames < context_length:
        raise ValueError(
            f"context_length ({context_length}) must be <= the number of frames ({num_frames}): "
            "no window covers a video shorter than one window"
        )
    windows = [
        (s, s + context_length, context_length)
        for s in range(0, num_frames - context_length + 1, context_stride)
    ]
    last_end = windows[-1][1]
    if last_end != num_frames:
        windows.append((num_frames - context_length, num_frames, num_frames - last_end))
    return windows


def fusion_counts(
    num_frames: int,
    context_length: int,
    context_stride: int,
    weighting: str,
    fix_tail: bool = True,
) -> torch.Tensor:
    """``(F,)`` float32: the sum of the weights each frame is accumulated with (the divisor).

    Accumulated in float32 window by window, in diffusers' order. ``fix_tail=False`` adds the tail
    window's weight ``ω[L - tail]`` to all its ``tail`` frames, as diffusers does.
    """
    weights = torch.tensor(window_weights(context_length, weighting), dtype=torch.float32)
    counts = torch.zeros(num_frames, dtype=torch.float32)
    for start, end, keep in fusion_windows(num_frames, context_length, context_stride):
        if keep == end - start:
            counts[start:end] += weights
        elif fix_tail:
            counts[end - keep : end] += weights[-keep:]
        else:
            counts[end - keep : end] += weights[-keep]
    return counts


class TemporalBlock:
    """One windowable block: ``unet.<name>`` is a ``BasicTransformerBlock`` attending over frames.

    ``positions`` is the length of its sinusoidal positional embedding (``None`` without one): the
    largest window it can take.
    """

    def __init__(self, name: str, block: BasicTransformerBlock) -> None:
        self.name = name
        self.block = block
        pe = block.pos_embed
        self.positions = int(pe.pe.shape[1]) if pe is not None else None


def temporal_blocks(unet: torch.nn.Module) -> list[TemporalBlock]:
    """The transformer blocks of ``unet``'s temporal transformers, in module order.

    Raises:
        ValueError: a block is not a plain layer-norm ``BasicTransformerBlock`` (diffusers' own
            ``FreeNoiseTransformerBlock`` from ``enable_free_noise``, a split-inference wrapper, an
            ada-norm or GLIGEN block), so its forward cannot be windowed here.
    """
    found = []
    for name, module in unet.named_modules():
        if not isinstance(module, TEMPORAL_TRANSFORMERS):
            continue
        for i, block in enumerate(module.transformer_blocks):
            where = f"{name}.transformer_blocks.{i}"
            if isinstance(block, FreeNoiseTransformerBlock):
                raise ValueError(
                    f"pipe has diffusers' FreeNoise enabled ({where} is a "
                    "FreeNoiseTransformerBlock); call pipe.disable_free_noise() first"
                )
            if type(block) is not BasicTransformerBlock:
                raise ValueError(
                    f"pipe: {where} is a {type(block).__name__}, not a BasicTransformerBlock; "
                    "FreeNoise cannot window it"
                )
            pe = block.pos_embed
            if (
                block.norm_type != "layer_norm"
                or hasattr(block, "fuser")
                or (pe is not None and not isinstance(pe, SinusoidalPositionalEmbedding))
            ):
                raise ValueError(
                    f"pipe: {where} uses norm_type={block.norm_type!r}, a GLIGEN fuser or a "
                    "non-sinusoidal positional embedding; FreeNoise windows layer-norm blocks only"
                )
            found.append(TemporalBlock(where, block))
    return found


def _attention_residual(
    block: BasicTransformerBlock,
    x: torch.Tensor,
    attention_mask: torch.Tensor | None,
    encoder_hidden_states: torch.Tensor | None,
    encoder_attention_mask: torch.Tensor | None,
    attn_kwargs: dict[str, Any],
) -> torch.Tensor:
    """``BasicTransformerBlock.forward`` up to (not including) the feed-forward, for layer norm:
    ``norm1 -> [pos_embed] -> attn1 -> +x -> norm2 -> [pos_embed] -> attn2 -> +residual``, ``x``
    ``(N, L, C)`` -> ``(N, L, C)``. The positional embedding covers the ``L`` frames of ``x``."""
    norm = block.norm1(x)
    if block.pos_embed is not None:
        norm = block.pos_embed(norm)
    context = encoder_hidden_states if block.only_cross_attention else None
    out = block.attn1(
        norm, encoder_hidden_states=context, attention_mask=attention_mask, **attn_kwargs
    )
    x = out + x
    if block.attn2 is not None:
        norm = block.norm2(x)
        if block.pos_embed is not None:
            norm = block.pos_embed(norm)
        out = block.attn2(
            norm,
            encoder_hidden_states=encoder_hidden_states,
            attention_mask=encoder_attention_mask,
            **attn_kwargs,
        )
        x = out + x
    return x


def _feed_forward(block: BasicTransformerBlock, x: torch.Tensor) -> torch.Tensor:
    """``ff(norm3(x))``, chunked along ``block._chunk_dim`` if ``set_chunk_feed_forward`` asked."""
    norm = block.norm3(x)
    size = block._chunk_size
    if size is None:
        return block.ff(norm)
    dim = block._chunk_dim
    if norm.shape[dim] % size != 0:
        raise ValueError(
            f"the feed-forward chunk size {size} must divide dimension {dim} of the hidden "
            f"states ({norm.shape[dim]}); change set_chunk_feed_forward"
        )
    return torch.cat([block.ff(part) for part in norm.chunk(norm.shape[dim] // size, dim)], dim)


def windowed_forward(
    block: BasicTransformerBlock,
    context_length: int,
    context_stride: int,
    weighting: str,
    fix_tail: bool = True,
) -> Callable[..., torch.Tensor]:
    """A replacement for ``block.forward`` that windows and fuses as the module docstring says.

    The returned function takes ``BasicTransformerBlock.forward``'s arguments, with
    ``hidden_states`` ``(N, F, C)`` and ``F >= context_length``, and returns ``(N, F, C)``. It uses
    the block's own submodules and weights (nothing is copied). Window plans are cached per
    frame count.
    """
    weights = torch.tensor(window_weights(context_length, weighting), dtype=torch.float32)

    @functools.cache
    def plan(num_frames: int) -> tuple[list[tuple[int, int, int]], torch.Tensor]:
        windows = fusion_windows(num_frames, context_length, context_stride)
        counts = fusion_counts(num_frames, context_length, context_stride, weighting, fix_tail)
        return windows, counts

    def forward(
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        timestep: Any = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        class_labels: Any = None,
        added_cond_kwargs: Any = None,
    ) -> torch.Tensor:
        attn_kwargs = dict(cross_attention_kwargs or {})
        attn_kwargs.pop("gligen", None)  # no fuser on a windowable block (temporal_blocks)
        attn_kwargs.pop("scale", None)  # deprecated and ignored by diffusers too
        dtype = hidden_states.dtype
        acc_dtype = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
        windows, counts = plan(hidden_states.shape[1])
        w = weights.to(hidden_states.device, acc_dtype)[:, None]  # (L, 1)
        acc = torch.zeros(hidden_states.shape, dtype=acc_dtype, device=hidden_states.device)
        for start, end, keep in windows:
            h = _attention_residual(
                block,
                hidden_states[:, start:end],
                attention_mask,
                encoder_hidden_states,
                encoder_attention_mask,
                attn_kwargs,
            )
            if keep == end - start:
                acc[:, start:end] += h * w
            else:  # the tail window: only its last `keep` frames are new
                acc[:, end - keep : end] += h[:, -keep:] * w[-keep:]
        fused = (acc / counts.to(hidden_states.device, acc_dtype)[:, None]).to(dtype)
        return _feed_forward(block, fused) + fused

    return forward
