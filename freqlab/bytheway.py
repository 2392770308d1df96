"""ByTheWay (BroadWay) on diffusers video UNets: edits of the temporal attention maps.

ByTheWay (Bu et al., "ByTheWay: Boost Your Text-to-Video Generation Model to Higher Quality in a
Training-free Way", CVPR 2025, arXiv:2410.06241; v1 "BroadWay") edits the post-softmax temporal
self-attention probabilities ``A`` ``(R, F, F)`` (``R = batch·h·w·heads`` rows, query frame ``i``,
key frame ``j``) of every temporal attention of the decoder, during the first ``fraction`` of the
denoising steps::

    with ByTheWay(tau=7, alpha=0.6, beta=1.5).apply(pipe):
        frames = pipe(prompt, num_frames=16).frames

Per attention layer and UNet call (paper Eq. 3-7; the official README's snippet):

1. ``E1 = E(A)`` with the energy ``E(A) = mean over rows (r, i) of Σ_j A[r, i, j]²`` on the
   **conditional** rows only (the second CFG half).
2. **Temporal Self-Guidance**: ``A ← A + α·(Interp(A_guide) − A)``, ``A_guide`` the map of the
   corresponding attention in the guide block ``up_blocks.1``, interpolated over the spatial
   axes ``(h, w)`` to this block's resolution. Then ``E2_l``, ``E2_h``: the energy of the 1D FFT
   of the rows over the key axis, no fftshift, in the low and high bins (``Σ_k |X_k|² / F``,
   averaged over conditional rows; ``E2_l + E2_h = E(A)`` by Parseval).
3. ``β_c = sqrt((E1 − E2_l) / E2_h)``, ``β = max(beta, β_c)``: the high frequencies are scaled
   to give back at least the energy TSG took away (with ``alpha = 0``, ``β_c = 1``).
4. **Fourier-based Motion Enhancement** on all rows (both CFG halves): the high bins
   ``{F//2 − τ, ..., F//2 + τ}`` (unshifted order, centred on Nyquist: for ``F = 16, τ = 7``
   every bin but DC) of ``FFT_j(A)`` times ``β``, real part of the IFFT, then each row divided by
   its sum. ``clamp=True`` first zeroes negative weights (BroadWay v1's README); ``clamp=False``
   keeps them (ByTheWay's README since commit 3459628; DC is unchanged, so rows still sum to 1).

How it runs here: :meth:`ByTheWay.apply` replaces the processors of the temporal self-attentions
(``attn1`` and ``attn2`` of every ``transformer_blocks[t]`` of ``up_blocks[k].motion_modules[m]``
on ``UNetMotionModel``, of ``up_blocks[k].temp_attentions[m]`` on ``UNet3DConditionModel``) for
``k >= guide_block`` with a processor that computes ``softmax(QKᵀ·scale)`` explicitly (not SDPA)
in active steps and hands the call to the original processor otherwise; a UNet forward pre-hook
decides per call whether the step is active and whether the batch is CFG halves; pre-hooks on the
temporal transformers record each block's ``(h, w)``. Leaving the ``with`` block restores the
original processor objects and removes the hooks.

**Which step.** The UNet's ``timestep`` is placed in ``pipe.scheduler.timesteps`` (the schedule
the pipeline set for this call): its step index is the number of scheduled timesteps above it, so
the count restarts with every pipeline call (FreeInit's passes, FreqPrior's re-noised pass) and
needs no counter. Step ``i`` of ``N`` is active iff ``i < ceil(fraction·N)`` (5 of 25 at 0.2, as
the README's example; ``fraction·N`` rounded to 6 decimals first, so 0.3·10 is 3, not 4).

**CFG halves.** diffusers' video pipelines build the CFG batch as ``cat([latents] * 2)`` with
``[uncond, cond]`` embeddings, so a UNet call whose ``sample`` has two identical halves is read as
CFG (energy on the second half), any other as conditional only (energy on all rows): ByTheWay works
with CFG off. (A CFG-free batch of two videos given identical latents would be read as CFG; the
energy then comes from the second video alone, nothing fails.)

**UNCONFIRMED in the official code, chosen here (each a parameter):**

* ``interpolation="nearest"``: the spatial interpolation mode of the guide's maps (``torch``'s
  ``F.interpolate`` default; with integer upsampling every target position takes the map of the
  guide position covering it, so rows stay probability vectors; ``bilinear`` and ``area`` also
  keep them so, ``bicubic`` may not).
* ``pairing="module"``: the guide of ``up_blocks[k]...[m].transformer_blocks[t].attnS`` is the
  attention at the same ``(m, t, S)`` in the guide block; ``"block_mean"`` takes the mean of the
  guide block's maps over ``(m, t)`` for slot ``S`` (for blocks with more modules than the guide).
* ``guide_map="raw"``: the guide's softmax as computed, before its own motion enhancement;
  ``"enhanced"``: after it.
* ``head_pairing="auto"``: head ``i`` blends toward the guide's head ``i`` (the official reshape
  keeps heads apart); where the counts differ (UNet3D keeps the head dimension at 64, so
  ModelScope's and VideoCrafter2's up_blocks.1/2/3 have 20/10/5 heads) toward the guide's mean
  over its heads. ``"mean"`` uses the mean everywhere.
* The guide block blends toward itself (a zero term): it gets motion enhancement only.
* ``guide_block=1`` (the README's ``up_blocks.1``); the edited blocks are ``up_blocks[k]``,
  ``k >= guide_block``, with temporal attention (the README's up_blocks.1/2/3).
* The step boundary ``<`` (above).

**Other differences from the official code:** an infinite ``β_c`` (``E2_h = 0``: rows with no high
frequencies, which ``β`` then cannot change) falls back to ``beta`` like a NaN one, instead of
multiplying zeros by infinity; the edit runs in float32 for half-precision models; with several
videos in a batch one ``β`` per layer comes from all their conditional rows (as the official
reshape); the CFG-off case above (the official reshape assumes two halves).

Refused (``ValueError`` naming the parameter): ``tau < 0`` here, ``tau >= F/2`` when ``F`` is
known (the first UNet call: ``F`` is the attention's sequence length, the window length under
FreeNoise); ``alpha`` outside ``[0, 1]``; ``beta < 1`` (see :class:`ByTheWay`); ``fraction``
outside ``(0, 1]``; a pipeline whose UNet has no temporal attention, or fewer than two decoder
blocks with temporal attention (a guide and a block to guide).

Official code read: Bujiazi/ByTheWay README at 1ae7294 and Bujiazi/BroadWay README at b07138c
(the only code released); diffusers 0.42 ``Attention`` / ``AttnProcessor``.
"""

from __future__ import annotations

import inspect
import math
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import (
    Attention,
    AttnProcessor,
    AttnProcessor2_0,
    AttnProcessorNPU,
    FusedAttnProcessor2_0,
    SlicedAttnProcessor,
    XFormersAttnProcessor,
)

from freqlab.checks import check_bool, check_int, check_number
from freqlab.freenoise_attention import TEMPORAL_TRANSFORMERS
from freqlab.handles import ModelHandle, check_not_applied, pipe_unet, run_undo

__all__ = [
    "GUIDE_MAPS",
    "HEAD_PAIRINGS",
    "INTERPOLATION_MODES",
    "PAIRINGS",
    "ByTheWay",
    "ByTheWayHandle",
    "ByTheWaySite",
    "attention_energy",
    "edit_attention",
    "frequency_energy",
    "guide_maps",
    "high_frequency_bins",
    "motion_enhance",
    "resize_maps",
    "select_beta",
    "self_guidance",
]

INTERPOLATION_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")
PAIRINGS = ("module", "block_mean")
GUIDE_MAPS = ("raw", "enhanced")
HEAD_PAIRINGS = ("auto", "mean")
# Processors that compute plain softmax(QKᵀ·scale)·V from to_q/to_k/to_v: the explicit processor
# computes the same attention, so replacing them in active steps changes nothing but the edit.
# Anything else (another method's processor, IP-adapter, LoRA) would be silently bypassed.
_REPLACEABLE = (
    AttnProcessor,
    AttnProcessor2_0,
    AttnProcessorNPU,
    FusedAttnProcessor2_0,
    SlicedAttnProcessor,
    XFormersAttnProcessor,
)

# UNets with ByTheWay applied now: a second apply() on the same model is refused.
_ACTIVE: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()


# --------------------------------------------------------------------------- the map edits


def high_frequency_bins(num_frames: int, tau: int) -> list[int]:
    """The official high-frequency bins of an ``F``-point FFT: ``{F//2 − τ, ..., F//2 + τ}``.

    Unshifted order (bin 0 is DC), centred on Nyquist: ``F = 16, τ = 7`` gives ``1..15`` (every
    bin but DC); ``τ = 0`` gives ``{F//2}``. For odd ``F`` the set is not conjugate-symmetric, so
    taking the real part gives its two edge bins the factor ``(1 + β) / 2`` (as in the official
    code), and ``τ = F//2`` covers every bin, DC included (the enhancement is then undone by the
    row normalisation).

    Raises:
        ValueError: ``tau < 0`` or ``tau >= F/2`` (the official code asserts the set has
            ``2τ + 1`` bins).
    """
    if tau < 0 or 2 * tau >= num_frames:
        raise ValueError(
            f"tau must be in [0, F/2) = [0, {num_frames / 2:g}) for F = {num_frames} frames "
            f"(the temporal attention's sequence length), got {tau}"
        )
    mid = num_frames // 2
    return list(range(mid - tau, mid + tau + 1))


def _bin_mask(num_frames: int, tau: int, device: torch.device) -> torch.Tensor:
    mask = torch.zeros(num_frames, dtype=torch.bool, device=device)
    mask[high_frequency_bins(num_frames, tau)] = True
    return mask


def attention_energy(probs: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
    """Paper Eq. 4: ``mean over rows (r, i) of Σ_j A[r, i, j]²``, a 0-dim tensor.

    Args:
        probs: ``(R, F, F)`` attention maps (rows ``r`` fold batch, space and heads).
        rows: the rows to average over (the conditional half under CFG).
    """
    return probs[rows].pow(2).sum(-1).mean()


def frequency_energy(
    probs: torch.Tensor, tau: int, rows: slice = slice(None)
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(E_h, E_l)``: ``Σ_{k in bins} |FFT_j(A)_k|² / F`` averaged over ``rows`` and queries, for
    the high bins (:func:`high_frequency_bins`) and the rest. ``E_h + E_l = attention_energy``.

    Args:
        probs: ``(R, F, F)``; the FFT runs over the last (key) axis, no fftshift.
    """
    num_frames = probs.shape[-1]
    mask = _bin_mask(num_frames, tau, probs.device)
    power = torch.fft.fft(probs[rows], dim=-1).abs().pow(2)  # (R', F, F)
    high = power[..., mask].sum(-1).mean() / num_frames
    low = power[..., ~mask].sum(-1).mean() / num_frames
    return high, low


def select_beta(
    beta: float, energy_before: torch.Tensor, low: torch.Tensor, high: torch.Tensor
) -> torch.Tensor:
    """Paper Eq. 7: ``max(beta, β_c)`` with ``β_c = sqrt((E1 − E2_l) / E2_h)``, a 0-dim tensor.

    A NaN ``β_c`` (``E1 < E2_l``) falls back to ``beta``, as Python's ``max(float, nan tensor)``
    does in the official code; an infinite one (``E2_h = 0``) too (see the module docstring).
    Computed with tensor ops, so no device sync.
    """
    beta_c = torch.sqrt((energy_before - low) / high)
    return torch.where(torch.isfinite(beta_c) & (beta_c > beta), beta_c, beta)


def motion_enhance(
    probs: torch.Tensor, tau: int, beta: float | torch.Tensor, clamp: bool = False
) -> torch.Tensor:
    """Paper Eq. 6: the high bins of ``FFT_j(A)`` times ``beta``, real IFFT, rows renormalised.

    Args:
        probs: ``(R, F, F)`` real maps; the FFT runs over the key axis.
        beta: a number or a 0-dim tensor.
        clamp: zero negative weights before renormalising (BroadWay v1).

    Returns:
        ``(R, F, F)``, each row summing to 1.
    """
    num_frames = probs.shape[-1]
    mask = _bin_mask(num_frames, tau, probs.device)
    beta = torch.as_tensor(beta, dtype=probs.dtype, device=probs.device)
    scale = torch.where(mask, beta, torch.ones_like(beta))  # (F,)
    out = torch.fft.ifft(torch.fft.fft(probs, dim=-1) * scale, dim=-1).real
    if clamp:
        out = out.clamp_min(0)
    return out / out.sum(-1, keepdim=True)


def self_guidance(probs: torch.Tensor, guide: torch.Tensor, alpha: float) -> torch.Tensor:
    """Paper Eq. 3: ``A + α·(G − A)``, both ``(R, F, F)`` (``G`` already at ``A``'s resolution)."""
    return probs + alpha * (guide - probs)


def resize_maps(
    maps: torch.Tensor,
    size: tuple[int, int],
    target: tuple[int, int],
    heads: int,
    mode: str = "nearest",
) -> torch.Tensor:
    """Interpolate maps over the spatial axes: ``(B·h·w·heads, F, F)`` -> ``(B·H·W·heads, F, F)``.

    Rows are ordered ``(b, y, x, head)``, head innermost, as diffusers' temporal transformers fold
    ``(B, h, w)`` and ``head_to_batch_dim`` folds the heads. Every ``(head, i, j)`` entry is
    interpolated as one channel of a ``(B, heads·F·F, h, w)`` image with ``F.interpolate(mode)``.
    """
    if tuple(size) == tuple(target):
        return maps
    rows, num_frames, _ = maps.shape
    h, w = size
    batch = rows // (h * w * heads)
    grid = maps.reshape(batch, h, w, heads * num_frames * num_frames).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(target), mode=mode)
    return grid.permute(0, 2, 3, 1).reshape(-1, num_frames, num_frames)


def guide_maps(
    maps: torch.Tensor,
    size: tuple[int, int],
    heads: int,
    target: tuple[int, int],
    target_heads: int,
    mode: str = "nearest",
    head_mean: bool = False,
) -> torch.Tensor:
    """A guide's maps ``(B·h·w·heads, F, F)`` at a target's layout ``(B·H·W·target_heads, F, F)``.

    Head by head when the head counts agree and ``head_mean`` is false; otherwise every target
    head gets the guide's mean over its heads (UNet3D keeps the head dimension and varies the
    count: ModelScope's up_blocks.1/2/3 have 20/10/5 heads). Then :func:`resize_maps`.
    """
    if heads == target_heads and not head_mean:
        return resize_maps(maps, size, target, heads, mode)
    num_frames = maps.shape[-1]
    mean = maps.reshape(-1, heads, num_frames, num_frames).mean(1)  # (B·h·w, F, F)
    mean = resize_maps(mean, size, target, 1, mode)
    return mean[:, None].expand(-1, target_heads, -1, -1).reshape(-1, num_frames, num_frames)


def edit_attention(
    probs: torch.Tensor,
    guide: torch.Tensor | None,
    *,
    tau: int,
    alpha: float,
    beta: float,
    clamp: bool = False,
    rows: slice = slice(None),
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's ByTheWay edit (steps 1-4 of the module docstring).

    Args:
        probs: ``(R, F, F)`` softmax maps.
        guide: ``(R, F, F)`` guide maps at ``probs``' resolution, or ``None`` (no TSG).
        rows: the conditional rows the energies are measured on.

    Returns:
        The edited maps ``(R, F, F)`` and the ``β`` used (0-dim tensor).
    """
    energy_before = attention_energy(probs, rows)
    if guide is not None and alpha != 0:
        probs = self_guidance(probs, guide, alpha)
    high, low = frequency_energy(probs, tau, rows)
    used = select_beta(beta, energy_before, low, high)
    return motion_enhance(probs, tau, used, clamp), used


# --------------------------------------------------------------------------- sites and state


@dataclass(frozen=True)
class ByTheWaySite:
    """One temporal self-attention ByTheWay edits: ``unet.<name>``.

    ``up_block`` is its decoder block, ``module`` the temporal transformer's position in that
    block (``motion_modules[m]`` / ``temp_attentions[m]``), ``layer`` its transformer block,
    ``slot`` ``"attn1"`` or ``"attn2"``. ``role`` is ``"guide"`` (in the guide block: motion
    enhancement only) or ``"target"``; ``guided_by`` names the guide attentions whose maps
    (averaged if several) it blends toward.
    """

    name: str
    up_block: int
    module: int
    layer: int
    slot: str
    heads: int
    role: str
    guided_by: tuple[str, ...] = ()


class _State:
    """What one UNet call shares between the hooks and the processors."""

    def __init__(self) -> None:
        self.active = False
        self.cfg = False
        self.unet_calls = 0
        self.active_calls = 0
        self.sizes: dict[tuple[int, int], tuple[int, int]] = {}
        self.clear()

    def clear(self) -> None:
        # The guide maps of this UNet call, per guide attention, in call order (FreeNoise windows
        # call an attention once per window), with their (h, w); and each attention's call count.
        self.guides: dict[str, list[tuple[torch.Tensor, tuple[int, int], int]]] = {}
        self.calls: dict[str, int] = {}


def _first_value(timestep: Any) -> float:
    return float(torch.as_tensor(timestep).flatten()[0])


class _Processor:
    """The temporal attention processor: explicit softmax and the edit in active steps, the
    original processor otherwise. Not an ``nn.Module`` (no state dict change)."""

    def __init__(
        self,
        method: ByTheWay,
        site: ByTheWaySite,
        state: _State,
        original: Any,
        cache_guide: bool,
    ) -> None:
        self.method = method
        self.site = site
        self.state = state
        self.original = original
        self.cache_guide = cache_guide
        params = inspect.signature(original.__call__).parameters.values()
        self._any_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        self._kwarg_names = {p.name for p in params}

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        if hidden_states.ndim != 3 or encoder_hidden_states is not None:
            raise ValueError(
                f"ByTheWay: {self.site.name} must be a temporal self-attention on (N, F, C) "
                f"hidden states; got shape {tuple(hidden_states.shape)}"
                + ("" if encoder_hidden_states is None else " with encoder_hidden_states")
            )
        high_frequency_bins(hidden_states.shape[1], self.method.tau)  # tau < F/2, every step
        if not self.state.active:
            if temb is not None:
                kwargs["temb"] = temb
            if not self._any_kwargs:  # as Attention.forward filters for the processor it calls
                kwargs = {k: v for k, v in kwargs.items() if k in self._kwarg_names}
            return self.original(attn, hidden_states, None, attention_mask, **kwargs)
        return self._edited(attn, hidden_states, attention_mask)

    def _edited(
        self, attn: Attention, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        # diffusers' AttnProcessor, with the probabilities edited before they weight the values.
        residual = hidden_states
        batch, frames, _ = hidden_states.shape
        attention_mask = attn.prepare_attention_mask(attention_mask, frames, batch)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(hidden_states))
        value = attn.head_to_batch_dim(attn.to_v(hidden_states))
        probs = attn.get_attention_scores(query, key, attention_mask)  # (N·heads, F, F)
        work = probs.float() if probs.dtype in (torch.float16, torch.bfloat16) else probs
        edited = self._edit(work)
        out = torch.bmm(edited.to(value.dtype), value)
        out = attn.batch_to_head_dim(out)
        out = attn.to_out[1](attn.to_out[0](out))  # linear, dropout
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor

    def _edit(self, probs: torch.Tensor) -> torch.Tensor:
        site, state, method = self.site, self.state, self.method
        size = state.sizes[(site.up_block, site.module)]
        rows = slice(probs.shape[0] // 2, None) if state.cfg else slice(None)
        index = state.calls.get(site.name, 0)
        state.calls[site.name] = index + 1
        guide = None
        if site.role == "target" and method.alpha != 0:
            guide = self._guide(index, size, probs.shape[0])
        if self.cache_guide and method.guide_map == "raw":
            state.guides.setdefault(site.name, []).append((probs, size, site.heads))
        edited, _ = edit_attention(
            probs,
            guide,
            tau=method.tau,
            alpha=method.alpha,
            beta=method.beta,
            clamp=method.clamp,
            rows=rows,
        )
        if self.cache_guide and method.guide_map == "enhanced":
            state.guides.setdefault(site.name, []).append((edited, size, site.heads))
        return edited

    def _guide(self, index: int, size: tuple[int, int], rows: int) -> torch.Tensor:
        maps = []
        for name in self.site.guided_by:
            cached = self.state.guides.get(name, [])
            if index >= len(cached):
                raise RuntimeError(
                    f"ByTheWay: {self.site.name} (call {index} of this UNet call) has no guide map "
                    f"from {name}; the guide block must run first, as often (same windows)"
                )
            guide, guide_size, guide_heads = cached[index]
            maps.append(
                guide_maps(
                    guide,
                    guide_size,
                    guide_heads,
                    size,
                    self.site.heads,
                    self.method.interpolation,
                    self.method.head_pairing == "mean",
                )
            )
        guide = maps[0] if len(maps) == 1 else torch.stack(maps).mean(0)
        if guide.shape[0] != rows:
            raise RuntimeError(
                f"ByTheWay: the guide maps of {self.site.name} have {guide.shape[0]} rows after "
                f"interpolation, its own maps {rows}; unsupported layout"
            )
        return guide


# --------------------------------------------------------------------------- handle


class ByTheWayHandle(ModelHandle):
    """What one :meth:`ByTheWay.apply` changed: a context manager, and ``remove()``.

    ``remove()`` puts every original processor object back and removes the hooks (idempotent);
    it runs on leaving the ``with`` block, also on an exception. ``sites``: the edited attentions;
    ``unet_calls`` / ``active_calls``: UNet calls seen, and those in the first ``fraction`` of
    their schedule (ByTheWay active).
    """

    def __init__(
        self,
        unet: torch.nn.Module,
        sites: list[ByTheWaySite],
        state: _State,
        undo: list[Callable[[], None]],
    ) -> None:
        super().__init__(unet, undo, _ACTIVE)
        self.sites = sites
        self._state = state

    @property
    def unet_calls(self) -> int:
        return self._state.unet_calls

    @property
    def active_calls(self) -> int:
        return self._state.active_calls

    def _changed(self) -> str:
        return f"{len(self.sites)} attentions"


# --------------------------------------------------------------------------- ByTheWay


def _decoder_attentions(unet: torch.nn.Module) -> dict[int, list[tuple[str, int, int, str, Any]]]:
    """Per up block with temporal self-attention: ``(name, module, layer, slot, attn)`` in order."""
    found: dict[int, list[tuple[str, int, int, str, Any]]] = {}
    for k, block in enumerate(getattr(unet, "up_blocks", [])):
        transformers = [
            (name, mod)
            for name, mod in block.named_modules()
            if isinstance(mod, TEMPORAL_TRANSFORMERS)
        ]
        for m, (name, transformer) in enumerate(transformers):
            for t, tblock in enumerate(transformer.transformer_blocks):
                for slot in ("attn1", "attn2"):
                    attn = getattr(tblock, slot, None)
                    # Only self-attention over frames gives (F, F) maps.
                    if isinstance(attn, Attention) and not attn.is_cross_attention:
                        where = f"up_blocks.{k}.{name}.transformer_blocks.{t}.{slot}"
                        found.setdefault(k, []).append((where, m, t, slot, attn))
    return found


@dataclass(frozen=True)
class ByTheWay:
    """ByTheWay's settings; :meth:`apply` puts it on a video pipeline.

    Args:
        tau: half-width of the high-frequency band around Nyquist (``τ``; the bins
            ``F//2 − τ .. F//2 + τ``), an int in ``[0, F/2)`` (checked against ``F`` on the first
            UNet call). ``τ = F/2 − 1`` (7 at 16 frames) is every bin but DC.
        alpha: Temporal Self-Guidance strength in ``[0, 1]`` (0: none; 1: the guide's maps).
        beta: the least motion enhancement, ``β = max(beta, β_c)``; ``beta >= 1``. Below 1 it
            would only matter where ``β_c`` is smaller or undefined, and there it would damp the
            high temporal frequencies, the opposite of the method (the official code has no
            check); ``beta = 1`` leaves the energy rule alone.
        fraction: the active share of the denoising steps, in ``(0, 1]`` (0.2: 5 of 25).
        clamp: ``False`` ByTheWay (negative weights kept), ``True`` BroadWay v1 (zeroed).
        interpolation: ``F.interpolate`` mode for the guide's maps over ``(h, w)``: one of
            :data:`INTERPOLATION_MODES`.
        guide_block: the index in ``unet.up_blocks`` of the guide block; blocks from it on are
            edited.
        pairing: ``"module"`` (same module, layer and slot in the guide block) or
            ``"block_mean"`` (the guide block's mean for the slot).
        guide_map: ``"raw"`` (the guide's softmax) or ``"enhanced"`` (after its own
            enhancement).
        head_pairing: ``"auto"`` (head ``i`` blends toward the guide's head ``i`` when the head
            counts agree, toward the guide's mean over heads when they do not) or ``"mean"``
            (always the mean).

    The UNCONFIRMED points these choose between are in the module docstring.
    """

    tau: int = 7
    alpha: float = 0.6
    beta: float = 1.5
    fraction: float = 0.2
    clamp: bool = False
    interpolation: str = "nearest"
    guide_block: int = 1
    pairing: str = "module"
    guide_map: str = "raw"
    head_pairing: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", check_int("tau", self.tau, minimum=0))
        object.__setattr__(self, "alpha", check_number("alpha", self.alpha, 0.0, 1.0))
        beta = check_number("beta", self.beta)
        if beta < 1:
            raise ValueError(
                f"beta must be >= 1 (the least high-frequency gain; β = max(beta, β_c)), "
                f"got {self.beta!r}"
            )
        object.__setattr__(self, "beta", beta)
        fraction = check_number("fraction", self.fraction)
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction!r}")
        object.__setattr__(self, "fraction", fraction)
        check_bool("clamp", self.clamp)
        if self.interpolation not in INTERPOLATION_MODES:
            raise ValueError(
                f"interpolation must be one of {INTERPOLATION_MODES}, got {self.interpolation!r}"
            )
        object.__setattr__(self, "guide_block", check_int("guide_block", self.guide_block, 0))
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {self.pairing!r}")
        if self.guide_map not in GUIDE_MAPS:
            raise ValueError(f"guide_map must be one of {GUIDE_MAPS}, got {self.guide_map!r}")
        if self.head_pairing not in HEAD_PAIRINGS:
            raise ValueError(
                f"head_pairing must be one of {HEAD_PAIRINGS}, got {self.head_pairing!r}"
            )

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return asdict(self)

    def active_steps(self, num_steps: int) -> int:
        """How many of ``num_steps`` steps are edited: ``ceil(fraction·N)`` (``fraction·N``
        rounded to 6 decimals first, against float error), at least 1."""
        return max(1, math.ceil(round(self.fraction * num_steps, 6)))

    def is_active(self, timestep: Any, timesteps: torch.Tensor) -> bool:
        """Whether the UNet call at ``timestep`` is in the first ``fraction`` of ``timesteps``
        (a schedule from high to low noise): its index, the count of scheduled timesteps above
        it, is below :meth:`active_steps`."""
        schedule = torch.as_tensor(timesteps).flatten().to("cpu", torch.float64)
        if schedule.numel() == 0:
            raise RuntimeError("ByTheWay: pipe.scheduler.timesteps is empty; set_timesteps first")
        step = int((schedule > _first_value(timestep)).sum())
        return step < self.active_steps(schedule.numel())

    # ----------------------------------------------------------------------- sites

    def sites(self, pipe: Any) -> list[ByTheWaySite]:
        """The temporal self-attentions :meth:`apply` would edit on ``pipe`` (or a UNet), in
        decoder order, with their roles and guides. Nothing is attached.

        Raises:
            ValueError: a diffusion-transformer pipeline (Wan, CogVideoX: one message naming
                ByTheWay and its classes), no temporal attention, fewer than two decoder blocks
                with temporal attention, a ``guide_block`` without it, or a target with no attention at its
                place in the guide block (``pairing="module"``).
        """
        unet = pipe_unet(pipe, "ByTheWay")
        kind = type(unet).__name__
        if not any(isinstance(m, TEMPORAL_TRANSFORMERS) for m in unet.modules()):
            raise ValueError(
                f"pipe: {kind} has no temporal attention; ByTheWay edits the temporal attention "
                "of UNetMotionModel (AnimateDiff) and UNet3DConditionModel (ModelScope, "
                "ZeroScope, VideoCrafter2)"
            )
        blocks = _decoder_attentions(unet)
        if len(blocks) < 2:
            where = ", ".join(f"up_blocks.{k}" for k in blocks) or "none"
            raise ValueError(
                f"pipe: {kind} has {len(blocks)} decoder block(s) with temporal attention "
                f"({where}); ByTheWay needs at least two (a guide block and a block to guide)"
            )
        if self.guide_block not in blocks:
            raise ValueError(
                f"guide_block must index a decoder block with temporal attention "
                f"(up_blocks {sorted(blocks)} of {kind}), got {self.guide_block}"
            )
        guides = blocks[self.guide_block]
        sites = []
        for k in sorted(b for b in blocks if b >= self.guide_block):
            for name, m, t, slot, attn in blocks[k]:
                if k == self.guide_block:
                    sites.append(ByTheWaySite(name, k, m, t, slot, attn.heads, "guide"))
                    continue
                if self.pairing == "module":
                    match = [g for g in guides if g[1:4] == (m, t, slot)]
                    if not match:
                        raise ValueError(
                            f"pairing='module': {name} has no attention at the same module, "
                            f"layer and slot in up_blocks.{self.guide_block}; use "
                            "pairing='block_mean'"
                        )
                else:
                    match = [g for g in guides if g[3] == slot]
                sites.append(
                    ByTheWaySite(
                        name, k, m, t, slot, attn.heads, "target", tuple(g[0] for g in match)
                    )
                )
        return sites

    # ----------------------------------------------------------------------- apply

    def apply(self, pipe: Any) -> ByTheWayHandle:
        """Put ByTheWay on ``pipe``, a video pipeline with ``.unet`` and ``.scheduler``.

        Inside (``with bytheway.apply(pipe): ...``, or until ``handle.remove()``) the temporal
        self-attentions of :meth:`sites` have ByTheWay's processor, and hooks on the UNet and its
        decoder's temporal transformers tell it the step, the CFG layout and each block's
        ``(h, w)``. No module is replaced, no weight or buffer touched.

        Raises:
            ValueError: see :meth:`sites`; ``pipe`` has no ``.scheduler``; ByTheWay is already
                applied to it; an attention's processor is not a plain diffusers attention
                processor (another method's, an adapter's) that ByTheWay could stand in for.
        """
        sites = self.sites(pipe)
        unet = pipe.unet if not isinstance(pipe, torch.nn.Module) else pipe
        if unet is pipe or getattr(pipe, "scheduler", None) is None:
            raise ValueError(
                "pipe must be a pipeline with .unet and .scheduler: ByTheWay reads the step from "
                f"the scheduler's timesteps; got {type(pipe).__name__}"
            )
        check_not_applied(unet, _ACTIVE, "ByTheWay")
        modules = dict(unet.named_modules())
        for site in sites:
            processor = modules[site.name].processor
            if type(processor) not in _REPLACEABLE:
                raise ValueError(
                    f"pipe: {site.name} has processor {type(processor).__name__}; ByTheWay "
                    "replaces only diffusers' plain attention processors "
                    f"({', '.join(c.__name__ for c in _REPLACEABLE)}); remove the other method first"
                )
        state = _State()
        cache = self.alpha != 0 and any(s.role == "target" for s in sites)
        undo: list[Callable[[], None]] = [state.clear]  # last: drop cached maps on exit
        try:
            undo.append(
                unet.register_forward_pre_hook(
                    self._unet_hook(pipe, state), with_kwargs=True
                ).remove
            )
            for k, m in sorted({(s.up_block, s.module) for s in sites}):
                transformer = [
                    mod
                    for mod in unet.up_blocks[k].modules()
                    if isinstance(mod, TEMPORAL_TRANSFORMERS)
                ][m]
                hook = transformer.register_forward_pre_hook(
                    _size_hook(state, (k, m)), with_kwargs=True
                )
                undo.append(hook.remove)
            for site in sites:
                attn = modules[site.name]
                original = attn.processor
                attn.set_processor(
                    _Processor(self, site, state, original, cache and site.role == "guide")
                )
                undo.append(lambda attn=attn, original=original: attn.set_processor(original))
        except BaseException:
            run_undo(undo)
            raise
        _ACTIVE.add(unet)
        return ByTheWayHandle(unet, sites, state, undo)

    def _unet_hook(self, pipe: Any, state: _State) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            sample = kwargs["sample"] if "sample" in kwargs else (args[0] if args else None)
            timestep = (
                kwargs["timestep"] if "timestep" in kwargs else (args[1] if len(args) > 1 else None)
            )
            if timestep is None:
                raise ValueError("ByTheWay: the UNet was called without a timestep")
            state.clear()
            state.unet_calls += 1
            state.active = self.is_active(timestep, pipe.scheduler.timesteps)
            state.active_calls += state.active
            n = sample.shape[0] if isinstance(sample, torch.Tensor) else 0
            # diffusers' pipelines build the CFG batch as cat([latents] * 2): identical halves.
            state.cfg = n % 2 == 0 and n > 0 and torch.equal(sample[: n // 2], sample[n // 2 :])

        return hook


def _size_hook(state: _State, key: tuple[int, int]) -> Callable[..., None]:
    """A temporal transformer's pre-hook: its input ``(B·F, C, h, w)`` gives the block's ``(h, w)``."""

    def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        state.sizes[key] = (int(hidden.shape[-2]), int(hidden.shape[-1]))

    return hook
