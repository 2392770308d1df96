"""The frequency-domain core: FreeInit's filters and mixing, FreeU's operators, SNR by frequency.

Pure functions on tensors. Conventions, shared with the official FreeInit/FreeU code:

* Video tensors end in ``(T, H, W)``; latents are usually ``(B, C, T, H, W)``.
* Filters are defined on *fftshifted* frequency indices, with normalised coordinates
  ``t~ = 2t/T - 1``, ``h~ = 2h/H - 1``, ``w~ = 2w/W - 1`` (so DC sits at 0 for even sizes).
* Mixing and the FreeU skip filter run their FFTs in float32 (float64 stays float64) and cast the
  real part back to the input dtype, as the references do.

References (the formulas and the official code these functions reproduce):

* FreeInit: Wu et al., "FreeInit: Bridging Initialization Gap in Video Diffusion Models",
  arXiv 2312.07537; github.com/TianxingWu/FreeInit at commit
  410286de018fef339c324e49e894a9cf82824f90, ``examples/AnimateDiff/animatediff/utils/
  freeinit_utils.py`` (``get_freq_filter``, the ``gaussian``/``butterworth``/``ideal``/``box``
  low-pass filters, ``freq_mix_3d``). The SNR by frequency is the analysis of its Fig. 3.
* FreeU: Si et al., "FreeU: Free Lunch in Diffusion U-Net", arXiv 2309.11497;
  github.com/ChenyangSi/FreeU at commit 3676d3652a44101f9cca030c33f82756dab249d7,
  ``demo/free_lunch_utils.py`` (``Fourier_filter``) and ``README.md`` (the structure-related
  backbone scaling, "FreeU v2").
* FreqPrior's variance-preserving mixing: Yuan et al., "FreqPrior: Improving Video Diffusion
  Models with Frequency Filtering Gaussian Noise", arXiv 2502.03496 (ICLR 2025).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "FILTER_METHODS",
    "FREEU_VARIANTS",
    "band_energy",
    "band_sum",
    "frequency_band_index",
    "frequency_energy",
    "freeu_backbone_scale",
    "freeu_skip_filter",
    "freq_mix_3d",
    "highpass_filter",
    "lowpass_filter",
    "band_snr_db",
    "snr_by_frequency",
    "validate_filter_args",
]

FILTER_METHODS = ("gaussian", "butterworth", "ideal", "ideal_exact", "box")
FREEU_VARIANTS = ("v1", "v2")
_FFT_DIMS_3D = (-3, -2, -1)
_FFT_DIMS_2D = (-2, -1)


# --------------------------------------------------------------------------- validation helpers


def _check_tensor(name: str, x: object, min_dims: int = 3, finite: bool = True) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < min_dims:
        raise ValueError(
            f"{name} must have at least {min_dims} dims (..., T, H, W)"
            if min_dims == 3
            else f"{name} must have at least {min_dims} dims",
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor, got dtype {x.dtype}")
    if finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return x


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half/bfloat16/float32 (as the references), float64 kept as is."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# --------------------------------------------------------------------------- FreeInit filters


def _normalised_coords_np(n: int) -> np.ndarray:
    """``2i/n - 1`` for i in [0, n): the filters' coordinate on fftshifted indices, float64 (n,).

    Computed as ``(2i) / n - 1`` in that order, the reference's rounding: ``i * (2/n)`` can differ by
    one ulp, which flips ``ideal``/``ideal_exact`` bins that lie exactly on the threshold.
    """
    return np.arange(0, 2 * n, 2, dtype=np.float64) / n - 1.0


def _normalised_coords(n: int) -> torch.Tensor:
    """:func:`_normalised_coords_np` as a float64 tensor."""
    return torch.from_numpy(_normalised_coords_np(n))


def _build_mask_3d(
    t: int, h: int, w: int, method: str, d_s: float, d_t: float, order: float
) -> np.ndarray:
    """The (T, H, W) mask as a float64 (bool for the ideal filters) array, no loop over elements.

    Built with NumPy on the host: single-threaded element-wise work on a mask this small is faster
    than torch's, whose OpenMP fork/join per op costs more than the work on small or shared CPUs.
    """
    if d_s == 0 or d_t == 0:
        return np.zeros((t, h, w))
    if method == "box":
        # Same slices as the official code (including the H-derived width threshold), so the
        # result matches even where Python's slice semantics clip.
        mask = np.zeros((t, h, w))
        th_s = round(int(h // 2) * d_s)
        th_t = round(t // 2 * d_t)
        ct, ch, cw = t // 2, h // 2, w // 2
        mask[ct - th_t : ct + th_t, ch - th_s : ch + th_s, cw - th_s : cw + th_s] = 1.0
        return mask
    tt = np.square((d_s / d_t) * _normalised_coords_np(t)).reshape(t, 1, 1)
    hh = np.square(_normalised_coords_np(h)).reshape(1, h, 1)
    ww = np.square(_normalised_coords_np(w)).reshape(1, 1, w)
    if method == "gaussian":
        # exp(c·(tt + hh + ww)) as a product of three 1-D exps: one full-size op instead of three
        # (a few ulp from the reference's exp of the sum).
        c = -1.0 / (2.0 * d_s * d_s)
        return np.exp(tt * c) * np.exp(hh * c) * np.exp(ww * c)
    d2 = (tt + hh) + ww  # the reference's d^2, (T, H, W), summed in the reference's order
    if method == "butterworth":
        with np.errstate(over="ignore"):  # q**order -> inf gives the limit 1/(1+inf) = 0
            return 1.0 / (1.0 + _power(d2 / (d_s * d_s), order))
    if method == "ideal":
        # The official code and diffusers compare with d_s*2 (not d_s**2); kept for parity.
        return d2 <= d_s * 2
    if method == "ideal_exact":
        return d2 <= d_s * d_s
    raise AssertionError(method)  # unreachable: validated by the caller


def _power(q: np.ndarray, order: float) -> np.ndarray:
    """``q ** order``; integer orders by repeated squaring, several times faster than ``np.power``."""
    if not float(order).is_integer() or order > 64:
        return np.power(q, order)
    result, n = np.ones_like(q), int(order)
    while n:
        if n & 1:
            result *= q
        n >>= 1
        if n:
            q = q * q
    return result


# dtypes filled on the host by NumPy in one pass (cast + broadcast over the leading dims).
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16}


# Cache of built masks. Each entry remembers the tensor's version counter so that a caller who
# modifies a returned mask in place gets a fresh one next time instead of a corrupted cache.
_MASK_CACHE: dict[tuple, tuple[torch.Tensor, int]] = {}
_MASK_CACHE_SIZE = 64


def validate_filter_args(method: str, d_s: float, d_t: float, order: float) -> None:
    """Raise a ValueError naming the parameter if a FreeInit filter argument is invalid."""
    if method not in FILTER_METHODS:
        raise ValueError(f"method must be one of {FILTER_METHODS}, got {method!r}")
    _check_fraction("d_s", d_s)
    _check_fraction("d_t", d_t)
    if isinstance(order, bool) or not isinstance(order, (int, float)) or not order >= 1:
        raise ValueError(f"order must be a number >= 1, got {order!r}")


def lowpass_filter(
    shape: Sequence[int],
    method: str = "gaussian",
    d_s: float = 0.25,
    d_t: float = 0.25,
    order: float = 4,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """FreeInit's spatio-temporal low-pass mask, in fftshifted frequency layout.

    Args:
        shape: ``(..., T, H, W)``, e.g. ``(1, C, T, h, w)`` as the reference builds it: a
            ``torch.Size``, tuple or list of ints (``latents.shape``; a tensor is refused).
        method: ``gaussian`` ``exp(-d^2 / 2 d_s^2)`` (the default, as :class:`freqlab.FreeInit`'s
            and the paper's); ``butterworth`` ``1 / (1 + (d^2/d_s^2)^order)``;
            ``ideal`` ``d^2 <= 2 d_s`` (the reference's comparison, kept for parity);
            ``ideal_exact`` ``d^2 <= d_s^2`` (the intended ideal filter); ``box`` the official
            centred box of half-widths ``round(H//2 * d_s)`` and ``round(T//2 * d_t)``.
            Here ``d^2 = (d_s/d_t * t~)^2 + h~^2 + w~^2``.
        d_s, d_t: spatial and temporal stop frequencies in [0, 1]; 0 gives the zero mask.
        order: Butterworth order (>= 1; ignored by other methods).

    Returns:
        A float mask of exactly ``shape``, broadcast over the leading dims. Masks are cached by
        all arguments; the returned tensor is the cached one, so copy it before editing in place
        (an in-place edit is detected and the cache rebuilds the mask).
    """
    validate_filter_args(method, d_s, d_t, order)
    if isinstance(shape, torch.Tensor):
        # A tensor is ambiguous (its shape, or sizes stored in it?): ask for the sizes.
        raise ValueError(
            f"shape must be a torch.Size, tuple or list of ints (e.g. latents.shape), got a "
            f"tensor of shape {tuple(shape.shape)}; pass its .shape"
        )
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a sequence of ints, got {shape!r}") from None
    if len(shape) < 3:
        raise ValueError(f"shape must have at least 3 dims (..., T, H, W), got {shape}")
    if any(s < 1 for s in shape):
        raise ValueError(f"shape must have positive sizes, got {shape}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    order_key = float(order) if method == "butterworth" else None
    key = (shape, method, float(d_s), float(d_t), order_key, device, dtype)
    hit = _MASK_CACHE.get(key)
    if hit is not None and hit[0]._version == hit[1]:
        return hit[0]
    t, h, w = shape[-3:]
    mask_np = _build_mask_3d(t, h, w, method, float(d_s), float(d_t), float(order))
    np_dtype = _NUMPY_DTYPES.get(dtype)
    if np_dtype is not None:
        out = np.empty(shape, dtype=np_dtype)
        out[...] = mask_np.astype(np_dtype, copy=False)  # broadcast over the leading dims
        mask = torch.from_numpy(out)
    else:  # e.g. bfloat16, which NumPy lacks
        mask = torch.from_numpy(mask_np.astype(np.float64)).to(dtype).expand(shape).contiguous()
    mask = mask.to(device)  # cast on the host first: some backends lack float64
    if len(_MASK_CACHE) >= _MASK_CACHE_SIZE:
        _MASK_CACHE.pop(next(iter(_MASK_CACHE)))
    _MASK_CACHE[key] = (mask, mask._version)
    return mask


def highpass_filter(
    shape: Sequence[int],
    method: str = "gaussian",
    d_s: float = 0.25,
    d_t: float = 0.25,
    order: float = 4,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``1 - lowpass_filter(...)``: the share of each frequency that FreeInit takes from noise."""
    return 1.0 - lowpass_filter(shape, method, d_s, d_t, order, device, dtype)


# --------------------------------------------------------------------------- FreeInit mixing


def freq_mix_3d(
    x: torch.Tensor,
    noise: torch.Tensor,
    lpf: torch.Tensor,
    variance_preserving: bool = False,
) -> torch.Tensor:
    """Low frequencies of ``x`` plus high frequencies of ``noise`` (FreeInit's noise reinitialisation).

    ``out = Re IFFT3( F(x)·L + F(noise)·(1 - L) )`` with F the 3D FFT over (T, H, W) and L the mask in
    fftshifted layout. With ``variance_preserving`` the noise weight is ``sqrt(1 - L^2)``
    (FreqPrior, arXiv 2502.03496), so unit-variance inputs keep unit variance per frequency.

    Args:
        x: ``(..., T, H, W)``, typically the noised clean latent ``(B, C, T, H, W)``.
        noise: same shape as ``x``, the fresh Gaussian noise.
        lpf: a mask that broadcasts to ``x.shape``, e.g. from :func:`lowpass_filter`.

    Returns:
        A real tensor of ``x``'s shape and dtype. The FFTs run in float32 (float64 inputs stay
        float64), as in the reference.
    """
    _check_tensor("x", x)
    _check_tensor("noise", noise)
    _check_tensor("lpf", lpf, min_dims=0)
    if noise.shape != x.shape:
        raise ValueError(
            f"noise must have the shape of x {tuple(x.shape)}, got {tuple(noise.shape)}"
        )
    try:
        broadcast = torch.broadcast_shapes(lpf.shape, x.shape)
    except RuntimeError:
        broadcast = None
    if broadcast != x.shape:
        raise ValueError(
            f"lpf of shape {tuple(lpf.shape)} does not broadcast to x {tuple(x.shape)}"
        )
    dtype = _compute_dtype(x.dtype)
    # The reference shifts both spectra, mixes, and unshifts; unshifting the mask instead is the
    # same element-wise arithmetic (a permutation) and saves two shifts of the spectra.
    mask = lpf.to(device=x.device, dtype=dtype)
    if mask.dim() > 0:
        # Shift the mask's own trailing (T, H, W) dims: a 1-D/2-D mask broadcasting to x is also
        # in fftshifted layout and must be unshifted along the dims it has.
        mask = torch.fft.ifftshift(mask, dim=_FFT_DIMS_3D[-min(mask.dim(), 3) :])
    x_freq = torch.fft.fftn(x.to(dtype), dim=_FFT_DIMS_3D)
    noise_freq = torch.fft.fftn(noise.to(dtype), dim=_FFT_DIMS_3D)
    if variance_preserving:
        noise_weight = (1.0 - mask.square()).clamp_min(0.0).sqrt()
    else:
        noise_weight = 1.0 - mask
    mixed = x_freq * mask + noise_freq * noise_weight
    return torch.fft.ifftn(mixed, dim=_FFT_DIMS_3D).real.to(x.dtype)


# --------------------------------------------------------------------------- FreeU operators


_SKIP_MASK_CACHE: dict[tuple, torch.Tensor] = {}


def _skip_mask(
    h: int, w: int, scale: float, threshold: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """The official FreeU mask (ones, ``scale`` on a 2·threshold block at the centre after
    fftshift), returned in *unshifted* layout, (H, W)."""
    key = (h, w, float(scale), int(threshold), device, dtype)
    mask = _SKIP_MASK_CACHE.get(key)
    if mask is None:
        mask = torch.ones(h, w, dtype=dtype)
        ch, cw = h // 2, w // 2
        mask[ch - threshold : ch + threshold, cw - threshold : cw + threshold] = scale
        mask = torch.fft.ifftshift(mask, dim=_FFT_DIMS_2D).to(device)
        if len(_SKIP_MASK_CACHE) >= _MASK_CACHE_SIZE:
            _SKIP_MASK_CACHE.pop(next(iter(_SKIP_MASK_CACHE)))
        _SKIP_MASK_CACHE[key] = mask
    return mask


def _skip_filter(h: torch.Tensor, scale: float, threshold: int = 1) -> torch.Tensor:
    """:func:`freeu_skip_filter` without input checks (for hooks on the hot path)."""
    dtype = _compute_dtype(h.dtype)
    mask = _skip_mask(h.shape[-2], h.shape[-1], scale, threshold, h.device, dtype)
    h_freq = torch.fft.fftn(h.to(dtype), dim=_FFT_DIMS_2D)
    return torch.fft.ifftn(h_freq * mask, dim=_FFT_DIMS_2D).real.to(h.dtype)


def freeu_skip_filter(h: torch.Tensor, scale: float, threshold: int = 1) -> torch.Tensor:
    """FreeU's Fourier filter on skip features, exactly as the official code.

    The 2D FFT (per channel, per frame) is multiplied by ``scale`` on the ``2·threshold`` square
    block around DC after fftshift (for threshold 1: frequencies {-1, 0} x {-1, 0}) and the real
    part of the inverse is kept. On a real input the effective multipliers are therefore: DC ->
    ``s``; (0, ±1), (±1, 0), (1, 1), (-1, -1) -> ``(1+s)/2``; everything else 1.

    Args:
        h: ``(N, C, H, W)`` or any ``(..., H, W)`` with at least 3 dims; video frames folded into N.
        scale: the skip factor ``s``.
        threshold: half-width of the block (the official code uses 1).

    Returns:
        A tensor of ``h``'s shape and dtype; computed in float32 (float64 stays float64).
    """
    _check_tensor("h", h)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"scale must be a finite number, got {scale!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ValueError(f"threshold must be an int >= 0, got {threshold!r}")
    return _skip_filter(h, float(scale), threshold)


def _backbone_scale(h: torch.Tensor, b: float, variant: str = "v1") -> torch.Tensor:
    """:func:`freeu_backbone_scale` without input checks (for hooks on the hot path)."""
    half = h.shape[1] // 2
    if variant == "v1":
        factor = b
    else:
        # Structure-related scaling: per sample, the channel mean min-max normalised to [0, 1].
        mean = h.mean(dim=1, keepdim=True)
        flat = mean.flatten(1)
        lo = flat.min(dim=1).values.view(-1, *([1] * (h.dim() - 1)))
        hi = flat.max(dim=1).values.view(-1, *([1] * (h.dim() - 1)))
        span = hi - lo
        # The official code divides by (max - min) unguarded; a constant map (span 0) would give
        # NaN there. We treat it as 0, i.e. no amplification.
        norm = torch.where(span > 0, (mean - lo) / torch.where(span > 0, span, 1), 0)
        factor = (b - 1) * norm + 1
    return torch.cat([h[:, :half] * factor, h[:, half:]], dim=1)


def freeu_backbone_scale(h: torch.Tensor, b: float, variant: str = "v1") -> torch.Tensor:
    """FreeU's backbone scaling of the first ``C // 2`` channels.

    * ``v1``: multiply them by the constant ``b`` (official demo code and diffusers).
    * ``v2``: multiply them by ``(b - 1)·m + 1``, with ``m`` the channel-mean map of ``h``
      min-max normalised per sample (official README since 2023-10-18, paper Eq. 2-4).

    Args:
        h: ``(N, C, H, W)`` backbone features (video frames folded into N), at least 3 dims.
        b: the backbone factor.
        variant: ``v1`` or ``v2``.

    Returns:
        A new tensor of ``h``'s shape and dtype (``h`` is not modified).
    """
    _check_tensor("h", h)
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b):
        raise ValueError(f"b must be a finite number, got {b!r}")
    if variant not in FREEU_VARIANTS:
        raise ValueError(f"variant must be one of {FREEU_VARIANTS}, got {variant!r}")
    return _backbone_scale(h, float(b), variant)


# --------------------------------------------------------------------------- SNR by frequency


def frequency_band_index(
    shape: Sequence[int], num_bands: int = 8, device: torch.device | str | None = None
) -> torch.Tensor:
    """The band of every (fftshifted) frequency bin of a ``(T, H, W)`` grid, int64 ``(T, H, W)``.

    Bands are equal-width bins of ``rho = sqrt(t~^2 + h~^2 + w~^2)`` over ``[0, sqrt(3)]`` with the
    filters' coordinates; the last bin is closed. Band 0 holds DC.
    """
    if isinstance(num_bands, bool) or not isinstance(num_bands, int) or num_bands < 1:
        raise ValueError(f"num_bands must be an int >= 1, got {num_bands!r}")
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise ValueError(f"shape must be (T, H, W) with positive sizes, got {tuple(shape)}")
    t, h, w = (int(s) for s in shape)
    rho = (
        _normalised_coords(t).square().view(t, 1, 1)
        + _normalised_coords(h).square().view(1, h, 1)
        + _normalised_coords(w).square().view(1, 1, w)
    ).sqrt()
    band = torch.floor(rho * (num_bands / math.sqrt(3.0))).long().clamp_(0, num_bands - 1)
    return band.to(device) if device is not None else band


def snr_by_frequency(
    z0: torch.Tensor,
    alphas_cumprod: torch.Tensor | None,
    timesteps: Sequence[int] | torch.Tensor | None,
    num_bands: int = 8,
    *,
    sigmas: torch.Tensor | Sequence[float] | None = None,
) -> torch.Tensor:
    """Per-band SNR (dB) of the noisy latent ``z_t`` across timesteps: FreeInit Fig. 3.

    Expected-value form, with F the 3D FFT over (T, H, W), summed over batch and channels::

        SNR_band(t) = 10 log10( a_t · sum_band |F z0|^2 / ( n_t · sum_band E|F eps|^2 ) )

    where ``E|F eps|^2 = T·H·W`` per bin for unit Gaussian noise. For a DDPM-style schedule
    ``a_t = alphas_cumprod[t]`` and ``n_t = 1 - a_t``; for a flow-matching path pass
    ``sigmas=`` (and ``alphas_cumprod=None``): ``a_t = (1 - sigma_t)^2``, ``n_t = sigma_t^2``.

    Args:
        z0: clean latents ``(..., T, H, W)``, e.g. ``(B, C, T, H, W)``.
        alphas_cumprod: the training schedule's cumulative alphas ``(num_train_timesteps,)``.
        timesteps: indices into ``alphas_cumprod`` (or into ``sigmas``; ``None`` = every sigma).
        num_bands: number of radial bands (see :func:`frequency_band_index`).
        sigmas: a flow-matching noise level table, values in [0, 1].

    Returns:
        float64 ``(len(timesteps), num_bands)``. A band without signal is ``-inf``; a band with no
        frequency bin (tiny grids) is NaN.
    """
    _check_tensor("z0", z0)
    if (alphas_cumprod is None) == (sigmas is None):
        raise ValueError("pass exactly one of alphas_cumprod (DDPM schedule) or sigmas (flow path)")
    if sigmas is not None:
        table = torch.as_tensor(sigmas, dtype=torch.float64).flatten().cpu()
        name = "sigmas"
    else:
        table = torch.as_tensor(alphas_cumprod, dtype=torch.float64).flatten().cpu()
        name = "alphas_cumprod"
    if table.numel() == 0 or not bool(torch.isfinite(table).all()):
        raise ValueError(f"{name} must be a non-empty finite 1-D tensor")
    if bool((table < 0).any()) or bool((table > 1).any()):
        raise ValueError(f"{name} values must lie in [0, 1]")
    if timesteps is None:
        if sigmas is None:
            raise ValueError("timesteps is required with alphas_cumprod")
        index = torch.arange(table.numel())
    else:
        index = torch.as_tensor(timesteps).flatten().cpu()
        if index.is_floating_point() or index.dtype == torch.bool:
            raise ValueError(f"timesteps must be integer indices into {name}, got {index.dtype}")
        if index.numel() == 0:
            raise ValueError("timesteps must not be empty")
        if bool((index < 0).any()) or bool((index >= table.numel()).any()):
            raise ValueError(
                f"timesteps must lie in [0, {table.numel() - 1}] (indices into {name})"
            )
    values = table[index.long()]
    if sigmas is not None:
        signal_w, noise_w = (1.0 - values).square(), values.square()
    else:
        signal_w, noise_w = values, 1.0 - values

    copies = z0.numel() // math.prod(z0.shape[-3:])  # batch x channels
    signal, noise, _ = band_energy(frequency_energy(z0), copies, num_bands)
    return band_snr_db(signal_w, noise_w, signal, noise)


def frequency_energy(z: torch.Tensor) -> torch.Tensor:
    """``|F z|^2`` per fftshifted bin, F the 3D FFT over (T, H, W), summed over the leading dims.

    Args:
        z: ``(..., T, H, W)`` float, on any device.

    Returns:
        float64 ``(T, H, W)`` on the CPU.
    """
    grid = tuple(z.shape[-3:])
    spectrum = torch.fft.fftn(z.detach().to(torch.float64), dim=_FFT_DIMS_3D)
    spectrum = torch.fft.fftshift(spectrum, dim=_FFT_DIMS_3D)
    return spectrum.abs().square().reshape(-1, *grid).sum(0).cpu()


def band_sum(values: torch.Tensor, num_bands: int = 8) -> torch.Tensor:
    """The sum of a ``(T, H, W)`` map of fftshifted bins over each band, float64 ``(num_bands,)``
    (bands of :func:`frequency_band_index`)."""
    band = frequency_band_index(tuple(values.shape), num_bands).flatten()
    return torch.bincount(band, weights=values.flatten().to(torch.float64), minlength=num_bands)


def band_energy(
    energy: torch.Tensor, copies: int, num_bands: int = 8
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per band, from a :func:`frequency_energy` map of ``copies`` summed ``(T, H, W)`` grids:
    the signal ``sum_band |F z0|^2``, the expected energy of unit Gaussian noise
    ``bins · T·H·W · copies`` (``E|F eps|^2 = T·H·W`` per bin) and the number of bins.

    Returns:
        Three float64 ``(num_bands,)`` tensors ``(signal, noise, bins)``.
    """
    t, h, w = energy.shape
    signal = band_sum(energy, num_bands)
    bins = band_sum(torch.ones(t, h, w, dtype=torch.float64), num_bands)
    return signal, bins * (t * h * w) * copies, bins


def band_snr_db(
    signal_weight: torch.Tensor,
    noise_weight: torch.Tensor,
    signal: torch.Tensor,
    noise: torch.Tensor,
) -> torch.Tensor:
    """``10 log10(a · signal_band / (n · noise_band))`` for every pair of weights ``(a, n)``.

    Args:
        signal_weight, noise_weight: ``(K,)`` the schedule's ``a_t`` and ``n_t``.
        signal, noise: ``(num_bands,)`` from :func:`band_energy`.

    Returns:
        float64 ``(K, num_bands)``: ``a = 0`` or no signal gives ``-inf``, an empty band NaN.
    """
    a = torch.as_tensor(signal_weight, dtype=torch.float64).reshape(-1, 1)
    n = torch.as_tensor(noise_weight, dtype=torch.float64).reshape(-1, 1)
    # x/0 gives inf and 0/0 NaN silently: no signal -> -inf dB, empty band -> NaN.
    return 10.0 * torch.log10((a * signal[None, :]) / (n * noise[None, :]))
