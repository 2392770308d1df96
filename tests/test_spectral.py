"""Tests for ``freqlab.spectral`` against independent slow references.

Every reference below is written from the formulas of the papers and the official code (FreeInit,
arXiv 2312.07537, TianxingWu/FreeInit@410286de; FreeU, arXiv 2309.11497, ChenyangSi/FreeU@3676d365;
the SNR by frequency of FreeInit's Fig. 3) with explicit Python loops, the way the official
FreeInit / diffusers code builds its filters. None of them uses the implementation's helpers.
Inputs are fresh seeded random tensors on tiny shapes.
"""

from __future__ import annotations

import math

import pytest
import torch

import freqlab
from benchmarks.spectral import loop_filter
from freqlab import (
    FILTER_METHODS,
    freeu_backbone_scale,
    freeu_skip_filter,
    freq_mix_3d,
    frequency_band_index,
    highpass_filter,
    lowpass_filter,
    snr_by_frequency,
)

DIMS_3D = (-3, -2, -1)
DIMS_2D = (-2, -1)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(shape, seed, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(shape, generator=_gen(seed), dtype=torch.float64).to(dtype)


# --------------------------------------------------------------------------- slow references


def ref_lowpass(shape, method, d_s, d_t, order=4) -> torch.Tensor:
    """Official-style filter: the benchmark's triple loop over (t, h, w), one value per bin
    (:func:`benchmarks.spectral.loop_filter`), in float64."""
    return loop_filter(shape, method, d_s, d_t, order, dtype=torch.float64)


def ref_freq_mix(x, noise, lpf, variance_preserving=False) -> torch.Tensor:
    """FreeInit's freq_mix_3d: shift both spectra, mix, unshift, inverse FFT, real part."""
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    x_freq = torch.fft.fftshift(torch.fft.fftn(x.to(work), dim=DIMS_3D), dim=DIMS_3D)
    noise_freq = torch.fft.fftshift(torch.fft.fftn(noise.to(work), dim=DIMS_3D), dim=DIMS_3D)
    lpf = lpf.to(work)
    hpf = torch.sqrt(1 - lpf**2) if variance_preserving else 1 - lpf
    mixed = x_freq * lpf + noise_freq * hpf
    out = torch.fft.ifftn(torch.fft.ifftshift(mixed, dim=DIMS_3D), dim=DIMS_3D).real
    return out.to(x.dtype)


def ref_fourier_filter(x, threshold, scale) -> torch.Tensor:
    """The official FreeU ``Fourier_filter`` (float32; float64 kept to compare at full precision)."""
    dtype = x.dtype
    x = x.double() if dtype == torch.float64 else x.float()
    x_freq = torch.fft.fftshift(torch.fft.fftn(x, dim=DIMS_2D), dim=DIMS_2D)
    H, W = x_freq.shape[-2:]
    mask = torch.ones(x_freq.shape, dtype=x.dtype)
    crow, ccol = H // 2, W // 2
    mask[..., crow - threshold : crow + threshold, ccol - threshold : ccol + threshold] = scale
    x_freq = torch.fft.ifftshift(x_freq * mask, dim=DIMS_2D)
    return torch.fft.ifftn(x_freq, dim=DIMS_2D).real.to(dtype)


def ref_backbone(h, b, variant) -> torch.Tensor:
    """FreeU's backbone scaling: v1 constant factor, v2 per-sample min-max normalised channel mean."""
    out = h.clone()
    half = h.shape[1] // 2
    if variant == "v1":
        out[:, :half] = out[:, :half] * b
        return out
    hidden_mean = h.mean(1).unsqueeze(1)
    n = hidden_mean.shape[0]
    expand = (n, 1) + (1,) * (h.dim() - 2)
    hmax = torch.max(hidden_mean.view(n, -1), dim=-1, keepdim=True).values.view(expand)
    hmin = torch.min(hidden_mean.view(n, -1), dim=-1, keepdim=True).values.view(expand)
    hidden_mean = (hidden_mean - hmin) / (hmax - hmin)
    out[:, :half] = out[:, :half] * ((b - 1) * hidden_mean + 1)
    return out


def ref_bands(T, H, W, num_bands) -> list:
    """Band of every fftshifted bin: equal-width bins of rho over [0, sqrt(3)], last one closed."""
    width = math.sqrt(3) / num_bands
    bands = []
    for t in range(T):
        for h in range(H):
            for w in range(W):
                rho = math.sqrt((2 * t / T - 1) ** 2 + (2 * h / H - 1) ** 2 + (2 * w / W - 1) ** 2)
                bands.append(min(int(rho / width), num_bands - 1))
    return bands


def ref_on_band_edge(T, H, W, num_bands) -> bool:
    """Whether some bin's rho lies (up to rounding) on a band edge, where either side is right."""
    width = math.sqrt(3) / num_bands
    for t in range(T):
        for h in range(H):
            for w in range(W):
                rho = math.sqrt((2 * t / T - 1) ** 2 + (2 * h / H - 1) ** 2 + (2 * w / W - 1) ** 2)
                if 0 < rho < math.sqrt(3) and abs(rho / width - round(rho / width)) < 1e-9:
                    return True
    return False


def ref_snr(z0, signal_w, noise_w, num_bands) -> torch.Tensor:
    """FreeInit Fig. 3's SNR by frequency in expected-value form, with explicit loops over bins
    and timesteps."""
    T, H, W = z0.shape[-3:]
    spec = torch.fft.fftshift(torch.fft.fftn(z0.double(), dim=DIMS_3D), dim=DIMS_3D)
    energy = spec.abs().square().reshape(-1, T, H, W).sum(0).flatten().tolist()
    copies = z0.numel() // (T * H * W)
    signal = [0.0] * num_bands
    noise = [0.0] * num_bands
    for i, band in enumerate(ref_bands(T, H, W, num_bands)):
        signal[band] += energy[i]
        noise[band] += T * H * W * copies  # E|F eps|^2 per bin, summed over batch x channels
    rows = []
    for a, n in zip(signal_w, noise_w, strict=True):
        row = []
        for s_b, n_b in zip(signal, noise, strict=True):
            num, den = a * s_b, n * n_b
            if den == 0:
                row.append(math.nan if num == 0 else math.inf)
            elif num == 0:
                row.append(-math.inf)
            else:
                row.append(10 * math.log10(num / den))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float64)


@pytest.fixture(scope="module", autouse=True)
def _single_thread():
    """Run this module's tiny FFTs on one thread.

    With 2 threads, every MKL FFT call here costs ~10 ms of thread hand-off (OpenMP workers
    spin-wait on this 2-core machine), which would dominate these microsecond-sized tests.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def animatediff_alphas() -> torch.Tensor:
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear")
    return scheduler.alphas_cumprod


# --------------------------------------------------------------------------- filters

FILTER_SHAPES = [(1, 1, 4, 4, 4), (1, 2, 5, 6, 7), (3, 8, 6), (2, 7, 5, 9), (1, 3, 6, 10, 12)]
FILTER_PARAMS = [(0.25, 0.25, 4), (0.5, 0.25, 2), (0.3, 0.7, 1), (1.0, 1.0, 2.5), (0.125, 0.6, 3)]


@pytest.mark.parametrize("method", FILTER_METHODS)
@pytest.mark.parametrize("shape", FILTER_SHAPES)
@pytest.mark.parametrize(("d_s", "d_t", "order"), FILTER_PARAMS)
def test_lowpass_matches_loop_reference(method, shape, d_s, d_t, order):
    got = lowpass_filter(shape, method, d_s, d_t, order)
    assert got.shape == torch.Size(shape)
    assert got.dtype == torch.float32
    ref = ref_lowpass(shape, method, d_s, d_t, order)
    torch.testing.assert_close(got.double(), ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", FILTER_METHODS)
@pytest.mark.parametrize("shape", [(12, 12, 12), (1, 2, 12, 10, 10), (6, 12, 12)])
@pytest.mark.parametrize(("d_s", "d_t"), [(0.25, 0.25), (0.5, 0.5), (0.5, 0.25), (0.1, 0.1)])
def test_lowpass_float64_bins_on_the_threshold(method, shape, d_s, d_t):
    # Non-power-of-two sizes put bins exactly on the ideal filters' threshold: the coordinates must
    # round as the reference's 2*t/T - 1, or those bins flip (a 0-vs-1 error, not 1e-6).
    got = lowpass_filter(shape, method, d_s, d_t, 4, dtype=torch.float64)
    ref = ref_lowpass(shape, method, d_s, d_t, 4)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "d_s", "d_t"),
    [((1, 1, 4, 16, 10), 1.0, 1.0), ((2, 12, 4), 0.75, 1.0), ((3, 6, 20), 1.0, 0.6)],
)
def test_box_keeps_official_slice_semantics(shape, d_s, d_t):
    # W smaller than H: the official code slices W with the H-derived th_s, possibly negative;
    # W larger than H: the box is only 2*th_s wide in W. round() is Python's (half to even).
    ref = ref_lowpass(shape, "box", d_s, d_t)
    assert ref.any() and not ref.all()
    got = lowpass_filter(shape, "box", d_s, d_t)
    torch.testing.assert_close(got.double(), ref, rtol=0, atol=0)


@pytest.mark.parametrize("method", FILTER_METHODS)
@pytest.mark.parametrize(("d_s", "d_t"), [(0.0, 0.25), (0.25, 0.0), (0.0, 0.0)])
def test_lowpass_zero_stop_frequency_is_zero_mask(method, d_s, d_t):
    got = lowpass_filter((1, 2, 4, 6, 5), method, d_s, d_t)
    assert got.shape == (1, 2, 4, 6, 5)
    assert torch.count_nonzero(got) == 0
    assert torch.equal(highpass_filter((1, 2, 4, 6, 5), method, d_s, d_t), torch.ones_like(got))


@pytest.mark.parametrize(
    ("method", "mean", "frac_above_half"),
    [
        ("gaussian", 0.0308, 0.0132),
        ("butterworth", 0.0104, 0.0074),
        ("ideal", 0.185, 0.185),
        ("ideal_exact", 0.0075, 0.0075),
        ("box", 0.0156, 0.0156),
    ],
)
def test_lowpass_statistics_table(method, mean, frac_above_half):
    # FreeInit's filters at T=16, h=w=64, d_s=d_t=0.25, n=4 (built with our function only: the loop is
    # slow at this size; the small shapes above check it element by element).
    mask = lowpass_filter((1, 4, 16, 64, 64), method, 0.25, 0.25, 4, dtype=torch.float64)
    assert mask.mean().item() == pytest.approx(mean, abs=5e-5 if mean < 0.1 else 5e-4)
    frac = (mask > 0.5).double().mean().item()
    assert frac == pytest.approx(frac_above_half, abs=5e-5 if frac < 0.1 else 5e-4)


def test_box_statistics_slices():
    # th_s = 8 -> rows/cols 24..39, th_t = 2 -> frames 6..9.
    mask = lowpass_filter((16, 64, 64), "box", 0.25, 0.25)
    nz = mask.nonzero()
    assert nz[:, 0].unique().tolist() == list(range(6, 10))
    assert nz[:, 1].unique().tolist() == list(range(24, 40))
    assert nz[:, 2].unique().tolist() == list(range(24, 40))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", FILTER_METHODS)
def test_lowpass_shape_dtype_device(dtype, method):
    shape = (2, 3, 5, 4, 6)
    got = lowpass_filter(shape, method, 0.4, 0.6, 2, device="cpu", dtype=dtype)
    assert got.shape == torch.Size(shape)
    assert got.dtype == dtype
    assert got.device == torch.device("cpu")
    assert got.is_contiguous()
    # Rounding to the requested dtype: within 1e-6 for float32/64, half an ulp at 1 otherwise.
    atol = 1e-6 if dtype in (torch.float32, torch.float64) else torch.finfo(dtype).eps
    ref = ref_lowpass(shape, method, 0.4, 0.6, 2)
    torch.testing.assert_close(got.double(), ref, rtol=0, atol=atol)
    high = highpass_filter(shape, method, 0.4, 0.6, 2, device=torch.device("cpu"), dtype=dtype)
    assert high.shape == torch.Size(shape) and high.dtype == dtype
    torch.testing.assert_close(high.double(), 1 - ref, rtol=0, atol=atol)


@pytest.mark.parametrize("method", FILTER_METHODS)
def test_lowpass_plus_highpass_is_one(method):
    shape = (1, 2, 7, 6, 5)
    low = lowpass_filter(shape, method, 0.35, 0.45, 3, dtype=torch.float64)
    high = highpass_filter(shape, method, 0.35, 0.45, 3, dtype=torch.float64)
    torch.testing.assert_close(low + high, torch.ones(shape, dtype=torch.float64))


def test_lowpass_cache_same_object_and_safe_against_inplace_edits():
    args = ((1, 3, 5, 7, 6), "gaussian", 0.375, 0.625)
    first = lowpass_filter(*args)
    assert lowpass_filter(*args) is first
    expected = ref_lowpass(*args)
    first.mul_(0.0).add_(7.0)  # a caller edits the returned (cached) mask in place
    again = lowpass_filter(*args)
    assert again is not first
    torch.testing.assert_close(again.double(), expected, rtol=0, atol=1e-6)
    assert lowpass_filter(*args) is again
    # A different dtype or order-sensitive method does not alias the cached entry.
    other = lowpass_filter(*args, dtype=torch.float64)
    assert other is not again and other.dtype == torch.float64


def test_lowpass_order_only_matters_for_butterworth():
    shape = (4, 6, 6)
    assert lowpass_filter(shape, "gaussian", 0.3, 0.3, 2) is lowpass_filter(
        shape, "gaussian", 0.3, 0.3, 5
    )
    b2 = lowpass_filter(shape, "butterworth", 0.3, 0.3, 2)
    b5 = lowpass_filter(shape, "butterworth", 0.3, 0.3, 5)
    assert not torch.equal(b2, b5)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"method": "gauss"}, "method"),
        ({"method": "Gaussian"}, "method"),
        ({"d_s": -0.1}, "d_s"),
        ({"d_s": 1.5}, "d_s"),
        ({"d_s": float("nan")}, "d_s"),
        ({"d_s": "0.25"}, "d_s"),
        ({"d_t": -1e-9}, "d_t"),
        ({"d_t": 1.01}, "d_t"),
        ({"order": 0.5}, "order"),
        ({"order": 0}, "order"),
        ({"order": float("nan")}, "order"),
        ({"shape": (4, 4)}, "shape"),
        ({"shape": (4, 0, 4)}, "shape"),
        ({"shape": 16}, "shape"),
        ({"dtype": torch.int64}, "dtype"),
    ],
)
@pytest.mark.parametrize("func", [lowpass_filter, highpass_filter])
def test_filter_bad_inputs(func, kwargs, param):
    args = {"shape": (1, 2, 4, 4, 4), "method": "butterworth", "d_s": 0.25, "d_t": 0.25}
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{param}\b"):
        func(**args)


# --------------------------------------------------------------------------- freq_mix_3d

MIX_SHAPES = [(1, 2, 4, 6, 8), (2, 3, 5, 7, 3), (3, 5, 9), (1, 1, 1, 4, 4)]


@pytest.mark.parametrize("shape", MIX_SHAPES)
@pytest.mark.parametrize("method", FILTER_METHODS)
@pytest.mark.parametrize("variance_preserving", [False, True])
def test_freq_mix_matches_reference(shape, method, variance_preserving):
    x = _randn(shape, 1)
    noise = _randn(shape, 2)
    lpf = lowpass_filter((1, *shape[1:]), method, 0.5, 0.5, 2)
    got = freq_mix_3d(x, noise, lpf, variance_preserving=variance_preserving)
    ref = ref_freq_mix(x, noise, lpf, variance_preserving)
    assert got.shape == x.shape and got.dtype == x.dtype and not got.is_complex()
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", MIX_SHAPES)
@pytest.mark.parametrize("variance_preserving", [False, True])
def test_freq_mix_random_asymmetric_mask_float64(shape, variance_preserving):
    # An arbitrary (non-symmetric) mask in [0, 1], odd sizes: catches any shift/unshift mix-up.
    x = _randn(shape, 3, torch.float64)
    noise = _randn(shape, 4, torch.float64)
    lpf = torch.rand(shape, generator=_gen(5), dtype=torch.float64)
    got = freq_mix_3d(x, noise, lpf, variance_preserving=variance_preserving)
    ref = ref_freq_mix(x, noise, lpf, variance_preserving)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "mask_shape",
    [(1, 3, 5, 6, 7), (5, 6, 7), (1, 1, 5, 6, 7), (2, 1, 5, 6, 7), (6, 7), (7,), (1, 6, 1), ()],
)
def test_freq_mix_broadcasting_masks(mask_shape):
    shape = (2, 3, 5, 6, 7)
    x = _randn(shape, 6, torch.float64)
    noise = _randn(shape, 7, torch.float64)
    lpf = torch.rand(mask_shape, generator=_gen(8), dtype=torch.float64)
    got = freq_mix_3d(x, noise, lpf)
    torch.testing.assert_close(got, ref_freq_mix(x, noise, lpf), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", MIX_SHAPES)
@pytest.mark.parametrize("variance_preserving", [False, True])
def test_freq_mix_all_pass_and_all_stop(shape, variance_preserving):
    x = _randn(shape, 9)
    noise = _randn(shape, 10)
    ones = torch.ones(shape[-3:])
    zeros = torch.zeros(shape[-3:])
    mix = freq_mix_3d(x, noise, ones, variance_preserving=variance_preserving)
    torch.testing.assert_close(mix, x, rtol=1e-5, atol=1e-5)
    mix = freq_mix_3d(x, noise, zeros, variance_preserving=variance_preserving)
    torch.testing.assert_close(mix, noise, rtol=1e-5, atol=1e-5)
    # The zero mask of a zero stop frequency gives pure noise (FreeInit's filters).
    lpf = lowpass_filter((1, *shape[1:]), "butterworth", 0.0, 0.25)
    torch.testing.assert_close(freq_mix_3d(x, noise, lpf), noise, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("dtype", "tol"),
    [
        (torch.float32, 1e-5),
        (torch.float64, 1e-10),
        (torch.float16, 2e-3),
        (torch.bfloat16, 2e-2),
    ],
)
def test_freq_mix_dtypes(dtype, tol):
    shape = (1, 4, 4, 8, 8)
    x = _randn(shape, 11, dtype)
    noise = _randn(shape, 12, dtype)
    lpf = lowpass_filter((1, 4, 4, 8, 8), "gaussian", 0.25, 0.25)
    got = freq_mix_3d(x, noise, lpf)
    assert got.dtype == dtype and got.shape == x.shape and not got.is_complex()
    torch.testing.assert_close(got, ref_freq_mix(x, noise, lpf), rtol=tol, atol=tol)


def test_freq_mix_variance_preserving_keeps_unit_variance():
    # Per frequency, L^2 + (1 - L^2) = 1: white inputs stay white; plain FreeInit decays.
    shape = (64, 1, 4, 8, 8)
    x = _randn(shape, 13, torch.float64)
    noise = _randn(shape, 14, torch.float64)
    lpf = torch.full((4, 8, 8), 0.5, dtype=torch.float64)
    assert freq_mix_3d(x, noise, lpf, variance_preserving=True).var().item() == pytest.approx(
        1.0, abs=0.05
    )
    assert freq_mix_3d(x, noise, lpf).var().item() == pytest.approx(0.5, abs=0.05)


def test_freq_mix_does_not_modify_inputs():
    x = _randn((1, 2, 3, 4, 5), 15)
    noise = _randn((1, 2, 3, 4, 5), 16)
    lpf = torch.rand((3, 4, 5), generator=_gen(17))
    copies = [x.clone(), noise.clone(), lpf.clone()]
    freq_mix_3d(x, noise, lpf, variance_preserving=True)
    for before, after in zip(copies, (x, noise, lpf), strict=True):
        assert torch.equal(before, after)


def _nan_at(t: torch.Tensor, value: float) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[1] = value
    return t


@pytest.mark.parametrize(
    ("case", "param"),
    [
        ("x_2d", "x"),
        ("x_int", "x"),
        ("x_nan", "x"),
        ("x_inf", "x"),
        ("x_list", "x"),
        ("noise_shape", "noise"),
        ("noise_nan", "noise"),
        ("noise_int", "noise"),
        ("lpf_nan", "lpf"),
        ("lpf_inf", "lpf"),
        ("lpf_int", "lpf"),
        ("lpf_bad_broadcast", "lpf"),
        ("lpf_too_big", "lpf"),
    ],
)
def test_freq_mix_bad_inputs(case, param):
    shape = (1, 2, 3, 4, 5)
    args = {"x": _randn(shape, 18), "noise": _randn(shape, 19), "lpf": torch.ones(3, 4, 5)}
    mutate = {
        "x_2d": lambda a: a.update(x=torch.zeros(4, 5), noise=torch.zeros(4, 5), lpf=torch.ones(5)),
        "x_int": lambda a: a.update(x=torch.zeros(shape, dtype=torch.int64)),
        "x_nan": lambda a: a.update(x=_nan_at(a["x"], math.nan)),
        "x_inf": lambda a: a.update(x=_nan_at(a["x"], -math.inf)),
        "x_list": lambda a: a.update(x=[[[0.0]]]),
        "noise_shape": lambda a: a.update(noise=_randn((1, 2, 3, 4, 6), 20)),
        "noise_nan": lambda a: a.update(noise=_nan_at(a["noise"], math.nan)),
        "noise_int": lambda a: a.update(noise=torch.zeros(shape, dtype=torch.int32)),
        "lpf_nan": lambda a: a.update(lpf=_nan_at(a["lpf"], math.nan)),
        "lpf_inf": lambda a: a.update(lpf=_nan_at(a["lpf"], math.inf)),
        "lpf_int": lambda a: a.update(lpf=torch.ones(3, 4, 5, dtype=torch.int64)),
        "lpf_bad_broadcast": lambda a: a.update(lpf=torch.ones(3, 5, 4)),
        "lpf_too_big": lambda a: a.update(lpf=torch.ones(2, 2, 3, 4, 5)),
    }
    mutate[case](args)
    with pytest.raises(ValueError, match=rf"^{param}\b"):
        freq_mix_3d(**args)


# --------------------------------------------------------------------------- FreeU skip filter


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 4, 7, 9), (2, 2, 3, 5, 6), (3, 5, 4)])
@pytest.mark.parametrize("scale", [0.2, 0.9, 1.0, 1.6])
@pytest.mark.parametrize("threshold", [1, 2])
def test_skip_filter_matches_official(shape, scale, threshold):
    h = _randn(shape, 21)
    got = freeu_skip_filter(h, scale, threshold)
    assert got.shape == h.shape and got.dtype == h.dtype
    torch.testing.assert_close(got, ref_fourier_filter(h, threshold, scale), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("dtype", "tol"),
    [(torch.float64, 1e-10), (torch.float16, 2e-3), (torch.bfloat16, 2e-2), (torch.float32, 1e-5)],
)
@pytest.mark.parametrize("shape", [(2, 4, 8, 8), (1, 3, 2, 5, 7)])
def test_skip_filter_dtypes(dtype, tol, shape):
    h = _randn(shape, 22, dtype)
    got = freeu_skip_filter(h, 0.7)
    assert got.dtype == dtype and got.shape == h.shape
    torch.testing.assert_close(got, ref_fourier_filter(h, 1, 0.7), rtol=tol, atol=tol)


@pytest.mark.parametrize(("H", "W"), [(8, 8), (7, 9), (4, 6), (5, 5), (3, 4), (16, 10)])
@pytest.mark.parametrize("s", [0.2, 0.5, 1.7])
def test_skip_filter_effective_multipliers(H, W, s):
    # FreeU's Fourier_filter: on a real input, FFT(out)/FFT(in) is s at DC, (1+s)/2 on (0,±1), (±1,0),
    # (1,1), (-1,-1), and 1 elsewhere, incl. (1,-1), (-1,1). Indices are unshifted (mod H, W).
    h = _randn((3, 2, H, W), 23, torch.float64)
    out = freeu_skip_filter(h, s)
    ratio = torch.fft.fftn(out, dim=DIMS_2D) / torch.fft.fftn(h, dim=DIMS_2D)
    expected = torch.ones(H, W, dtype=torch.float64)
    expected[0, 0] = s
    for fh, fw in [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, -1)]:
        expected[fh % H, fw % W] = (1 + s) / 2
    for fh, fw in [(1, -1), (-1, 1)]:
        assert expected[fh % H, fw % W] == 1.0
    torch.testing.assert_close(ratio, expected.to(ratio.dtype).expand_as(ratio), atol=1e-8, rtol=0)


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 3, 7, 5)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_skip_filter_identity_at_scale_one(shape, dtype):
    h = _randn(shape, 24, dtype)
    before = h.clone()
    torch.testing.assert_close(freeu_skip_filter(h, 1.0), h, rtol=0, atol=1e-6)
    torch.testing.assert_close(freeu_skip_filter(h, 0.3, threshold=0), h, rtol=0, atol=1e-6)
    assert torch.equal(h, before)


@pytest.mark.parametrize(
    ("h", "kwargs", "param"),
    [
        (torch.zeros(4, 4), {}, "h"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.int64), {}, "h"),
        (_nan_at(torch.zeros(1, 2, 4, 4), math.nan), {}, "h"),
        (_nan_at(torch.zeros(1, 2, 4, 4), math.inf), {}, "h"),
        (torch.zeros(1, 2, 4, 4), {"scale": math.nan}, "scale"),
        (torch.zeros(1, 2, 4, 4), {"scale": math.inf}, "scale"),
        (torch.zeros(1, 2, 4, 4), {"scale": "0.9"}, "scale"),
        (torch.zeros(1, 2, 4, 4), {"threshold": -1}, "threshold"),
        (torch.zeros(1, 2, 4, 4), {"threshold": 1.5}, "threshold"),
    ],
)
def test_skip_filter_bad_inputs(h, kwargs, param):
    args = {"scale": 0.9, **kwargs}
    with pytest.raises(ValueError, match=rf"^{param}\b"):
        freeu_skip_filter(h, **args)


# --------------------------------------------------------------------------- FreeU backbone


@pytest.mark.parametrize("variant", ["v1", "v2"])
@pytest.mark.parametrize("shape", [(2, 4, 6, 6), (3, 5, 7, 3), (1, 8, 5), (2, 6, 3, 4, 5)])
@pytest.mark.parametrize("b", [1.1, 1.6, 0.8])
def test_backbone_matches_reference(variant, shape, b):
    h = _randn(shape, 25)
    before = h.clone()
    got = freeu_backbone_scale(h, b, variant)
    assert torch.equal(h, before), "input modified"
    assert got.shape == h.shape and got.dtype == h.dtype
    torch.testing.assert_close(got, ref_backbone(h, b, variant), rtol=1e-6, atol=1e-6)
    half = shape[1] // 2
    assert torch.equal(got[:, half:], h[:, half:])  # second half untouched


@pytest.mark.parametrize("variant", ["v1", "v2"])
@pytest.mark.parametrize(
    ("dtype", "tol"),
    [(torch.float64, 1e-12), (torch.float16, 1e-2), (torch.bfloat16, 5e-2), (torch.float32, 1e-6)],
)
def test_backbone_dtypes(variant, dtype, tol):
    h = _randn((2, 6, 5, 7), 26, dtype)
    got = freeu_backbone_scale(h, 1.4, variant)
    assert got.dtype == dtype
    torch.testing.assert_close(got, ref_backbone(h, 1.4, variant), rtol=tol, atol=tol)


@pytest.mark.parametrize("variant", ["v1", "v2"])
@pytest.mark.parametrize("shape", [(2, 4, 6, 6), (3, 5, 7, 3)])
def test_backbone_identity_at_one(variant, shape):
    h = _randn(shape, 27)
    assert torch.equal(freeu_backbone_scale(h, 1.0, variant), h)


def test_backbone_v1_factor_and_v2_range():
    h = _randn((2, 6, 5, 5), 28)
    torch.testing.assert_close(freeu_backbone_scale(h, 1.5, "v1")[:, :3], h[:, :3] * 1.5)
    # v2: the effective factor lies in [1, b] and reaches both ends in every sample.
    factor = freeu_backbone_scale(h.abs() + 1.0, 1.5, "v2")[:, :3] / (h.abs() + 1.0)[:, :3]
    assert factor.min() >= 1.0 - 1e-6 and factor.max() <= 1.5 + 1e-6
    for i in range(2):
        assert factor[i].min().item() == pytest.approx(1.0, abs=1e-6)
        assert factor[i].max().item() == pytest.approx(1.5, abs=1e-6)


def test_backbone_v2_frames_folded_into_batch():
    # Video: frames folded into N = B*F; v2 normalises each frame (sample) on its own.
    B, F, C, H, W = 2, 3, 4, 5, 6
    h = _randn((B * F, C, H, W), 29)
    got = freeu_backbone_scale(h, 1.3, "v2")
    for i in range(B * F):
        torch.testing.assert_close(got[i : i + 1], ref_backbone(h[i : i + 1], 1.3, "v2"))
    torch.testing.assert_close(got, ref_backbone(h, 1.3, "v2"))


def test_backbone_v2_constant_map_is_not_amplified():
    # The official code divides 0 by 0 there (NaN); freqlab documents factor 1 instead.
    h = torch.full((2, 4, 3, 3), 0.5)
    got = freeu_backbone_scale(h, 1.6, "v2")
    assert torch.isfinite(got).all()
    assert torch.equal(got, h)


@pytest.mark.parametrize(
    ("h", "kwargs", "param"),
    [
        (torch.zeros(4, 4), {}, "h"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.int32), {}, "h"),
        (_nan_at(torch.zeros(1, 2, 4, 4), math.nan), {}, "h"),
        (_nan_at(torch.zeros(1, 2, 4, 4), -math.inf), {}, "h"),
        (torch.zeros(1, 2, 4, 4), {"b": math.nan}, "b"),
        (torch.zeros(1, 2, 4, 4), {"b": None}, "b"),
        (torch.zeros(1, 2, 4, 4), {"variant": "v3"}, "variant"),
    ],
)
def test_backbone_bad_inputs(h, kwargs, param):
    args = {"b": 1.2, "variant": "v1", **kwargs}
    with pytest.raises(ValueError, match=rf"^{param}\b"):
        freeu_backbone_scale(h, **args)


# --------------------------------------------------------------------------- SNR by frequency

# Shapes without bins exactly on a band edge (asserted below): there either side is right and
# float rounding decides.
BAND_CASES = [((4, 6, 8), 4), ((5, 7, 3), 3), ((6, 8, 10), 8), ((3, 4, 5), 1), ((2, 9, 6), 5)]


@pytest.mark.parametrize(("shape", "num_bands"), BAND_CASES)
def test_frequency_band_index_matches_reference(shape, num_bands):
    assert not ref_on_band_edge(*shape, num_bands)
    got = frequency_band_index(shape, num_bands)
    assert got.shape == torch.Size(shape) and got.dtype == torch.int64
    assert got.flatten().tolist() == ref_bands(*shape, num_bands)
    T, H, W = shape
    assert got[T // 2, H // 2, W // 2] == 0  # DC
    assert got[0, 0, 0] == num_bands - 1  # rho = sqrt(3): the last band is closed


@pytest.mark.parametrize(("shape", "num_bands"), BAND_CASES)
@pytest.mark.parametrize("lead", [(1, 1), (2, 3), (2,)])
def test_snr_matches_reference_ddpm(shape, num_bands, lead):
    z0 = _randn((*lead, *shape), 30)
    alphas = torch.linspace(0.999, 0.001, 50, dtype=torch.float64)
    timesteps = [0, 7, 25, 49]
    got = snr_by_frequency(z0, alphas, timesteps, num_bands)
    a = [alphas[t].item() for t in timesteps]
    ref = ref_snr(z0, a, [1 - v for v in a], num_bands)
    assert got.dtype == torch.float64 and got.shape == (len(timesteps), num_bands)
    torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("shape", "num_bands"), BAND_CASES[:3])
def test_snr_flow_matching_sigmas(shape, num_bands):
    z0 = _randn((2, 3, *shape), 31)
    sigmas = torch.tensor([0.05, 0.3, 0.5, 0.8, 0.97], dtype=torch.float64)
    ref = ref_snr(z0, [(1 - s) ** 2 for s in sigmas.tolist()], (sigmas**2).tolist(), num_bands)
    got = snr_by_frequency(z0, None, None, num_bands, sigmas=sigmas)
    torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-9)
    sub = snr_by_frequency(z0, None, [4, 1], num_bands, sigmas=sigmas.tolist())
    torch.testing.assert_close(sub, ref[[4, 1]], rtol=1e-9, atol=1e-9)


def test_snr_constant_video_hand_computed():
    # z0 = 2 on a 4x4x4 grid: F z0 = 2*64 at DC, 0 elsewhere. With 4 bands, band 0 holds only DC
    # (rho < sqrt(3)/4 = 0.433; the next smallest rho is 0.5), so with alpha = 0.5:
    # SNR_0 = 10 log10(alpha (2*64)^2 / ((1 - alpha) * 1 bin * 64)) = 10 log10(256).
    z0 = torch.full((1, 1, 4, 4, 4), 2.0)
    alphas = torch.tensor([0.5, 0.2, 0.9], dtype=torch.float64)
    got = snr_by_frequency(z0, alphas, [0, 1, 2], num_bands=4)
    expected = [10 * math.log10(256 * a / (1 - a)) for a in (0.5, 0.2, 0.9)]
    torch.testing.assert_close(got[:, 0], torch.tensor(expected, dtype=torch.float64))
    assert torch.isneginf(got[:, 1:]).all()
    # The same video in flow-matching form: a = (1 - sigma)^2, n = sigma^2.
    got = snr_by_frequency(z0, None, None, num_bands=4, sigmas=torch.tensor([0.5]))
    assert got[0, 0].item() == pytest.approx(10 * math.log10(256))
    assert torch.isneginf(got[0, 1:]).all()


def test_snr_cosine_along_time_hand_computed():
    # z0[t] = cos(2 pi * 2 t / 8) on (T, H, W) = (8, 4, 4): energy (T H W / 2)^2 at each of the two
    # bins t~ = +-0.5, h~ = w~ = 0 (rho = 0.5, band 1 of 4: [0.433, 0.866)). Band 1 has n1 bins, so
    # SNR_1 = 10 log10(a/(1-a) * 2 (THW/2)^2 / (n1 THW)) = 10 log10(a/(1-a) * THW / (2 n1)).
    T, H, W = 8, 4, 4
    t = torch.arange(T, dtype=torch.float64)
    z0 = torch.cos(2 * math.pi * 2 * t / T).view(1, 1, T, 1, 1).expand(1, 1, T, H, W)
    n1 = ref_bands(T, H, W, 4).count(1)
    alphas = torch.tensor([0.3], dtype=torch.float64)
    got = snr_by_frequency(z0, alphas, [0], num_bands=4)
    expected = 10 * math.log10(0.3 / 0.7 * T * H * W / (2 * n1))
    assert got[0, 1].item() == pytest.approx(expected, abs=1e-9)
    others = got[0, [0, 2, 3]]
    assert (others < got[0, 1] - 200).all()  # only rounding noise outside band 1


def test_snr_decreases_with_t_on_animatediff_schedule(animatediff_alphas):
    alphas = animatediff_alphas
    # AnimateDiff's linear betas 0.00085 -> 0.012
    assert alphas[999].item() == pytest.approx(0.001579, abs=2e-6)
    # A smooth latent: energy concentrated at low frequencies, every band has some signal.
    z0 = _randn((2, 4, 8, 8, 8), 32)
    weight = lowpass_filter((8, 8, 8), "gaussian", 0.5, 0.5, dtype=torch.float64) + 0.01
    weight = torch.fft.ifftshift(weight, dim=DIMS_3D)
    z0 = torch.fft.ifftn(torch.fft.fftn(z0, dim=DIMS_3D) * weight, dim=DIMS_3D).real
    timesteps = list(range(0, 1000, 37))  # 0, 37, ..., 999
    assert timesteps[-1] == 999
    got = snr_by_frequency(z0, alphas, timesteps, num_bands=6)
    assert torch.isfinite(got).all()
    assert (got[1:] < got[:-1]).all()  # strictly decreasing in t, every band
    # Low bands keep more SNR than high ones (the "information leakage" of §2.6).
    assert (got[:, 0] > got[:, -1]).all()
    # Per band the difference between two timesteps is the global schedule term.
    a = alphas.double()
    delta = 10 * math.log10(a[0] / (1 - a[0]) / (a[999] / (1 - a[999])))
    torch.testing.assert_close(got[0] - got[-1], torch.full((6,), delta, dtype=torch.float64))
    ref = ref_snr(z0, [a[t].item() for t in timesteps], [1 - a[t].item() for t in timesteps], 6)
    torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-9)


def test_snr_empty_band_is_nan():
    # A 1x1x2 grid has rho in {0, 1}: with 8 bands most bands hold no bin at all.
    z0 = _randn((1, 1, 1, 1, 2), 33)
    got = snr_by_frequency(z0, torch.tensor([0.5]), [0], num_bands=8)
    counts = torch.bincount(torch.tensor(ref_bands(1, 1, 2, 8)), minlength=8)
    assert torch.isnan(got[0, counts == 0]).all()
    assert not torch.isnan(got[0, counts > 0]).any()


def _snr_call(z0=None, alphas=None, timesteps=None, num_bands=4, **kw):
    z0 = torch.ones(1, 1, 2, 2, 2) if z0 is None else z0
    return snr_by_frequency(z0, alphas, timesteps, num_bands, **kw)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"z0": torch.zeros(4, 4), "alphas": torch.ones(3) * 0.5, "timesteps": [0]}, "z0"),
        (
            {
                "z0": torch.zeros(2, 2, 2, dtype=torch.int64),
                "alphas": torch.ones(3) * 0.5,
                "timesteps": [0],
            },
            "z0",
        ),
        (
            {
                "z0": _nan_at(torch.zeros(2, 2, 2), math.nan),
                "alphas": torch.ones(3) * 0.5,
                "timesteps": [0],
            },
            "z0",
        ),
        (
            {
                "z0": _nan_at(torch.zeros(2, 2, 2), math.inf),
                "alphas": torch.ones(3) * 0.5,
                "timesteps": [0],
            },
            "z0",
        ),
        ({"timesteps": [0]}, "alphas_cumprod"),
        ({"alphas": torch.ones(3) * 0.5, "timesteps": [0], "sigmas": [0.5]}, "alphas_cumprod"),
        ({"alphas": torch.tensor([0.5, math.nan]), "timesteps": [0]}, "alphas_cumprod"),
        ({"alphas": torch.tensor([0.5, 1.5]), "timesteps": [0]}, "alphas_cumprod"),
        ({"alphas": torch.tensor([]), "timesteps": [0]}, "alphas_cumprod"),
        ({"sigmas": [0.5, -0.1]}, "sigmas"),
        ({"sigmas": [math.inf]}, "sigmas"),
        ({"alphas": torch.ones(3) * 0.5, "timesteps": None}, "timesteps"),
        ({"alphas": torch.ones(3) * 0.5, "timesteps": [3]}, "timesteps"),
        ({"alphas": torch.ones(3) * 0.5, "timesteps": [-1]}, "timesteps"),
        ({"alphas": torch.ones(3) * 0.5, "timesteps": [0.5]}, "timesteps"),
        ({"alphas": torch.ones(3) * 0.5, "timesteps": torch.tensor([True])}, "timesteps"),
        ({"alphas": torch.ones(3) * 0.5, "timesteps": []}, "timesteps"),
        ({"sigmas": [0.5], "timesteps": [1]}, "timesteps"),
        ({"alphas": torch.ones(3) * 0.5, "timesteps": [0], "num_bands": 0}, "num_bands"),
        ({"alphas": torch.ones(3) * 0.5, "timesteps": [0], "num_bands": 2.0}, "num_bands"),
        ({"alphas": torch.ones(3) * 0.5, "timesteps": [0], "num_bands": True}, "num_bands"),
    ],
)
def test_snr_bad_inputs(kwargs, param):
    with pytest.raises(ValueError, match=param):
        _snr_call(**kwargs)


@pytest.mark.parametrize(
    ("shape", "num_bands", "param"),
    [((4, 4), 4, "shape"), ((4, 0, 4), 4, "shape"), ((2, 2, 2), 0, "num_bands")],
)
def test_frequency_band_index_bad_inputs(shape, num_bands, param):
    with pytest.raises(ValueError, match=rf"^{param}\b"):
        frequency_band_index(shape, num_bands)


def test_public_api():
    assert FILTER_METHODS == ("gaussian", "butterworth", "ideal", "ideal_exact", "box")
    for name in (
        "lowpass_filter",
        "highpass_filter",
        "freq_mix_3d",
        "freeu_skip_filter",
        "freeu_backbone_scale",
        "snr_by_frequency",
        "frequency_band_index",
    ):
        assert callable(getattr(freqlab, name))


def test_lowpass_filter_shape_is_sizes_not_a_tensor():
    latents = torch.zeros(1, 4, 4, 8, 8)
    with pytest.raises(
        ValueError, match=r"got a tensor of shape \(1, 4, 4, 8, 8\); pass its \.shape"
    ):
        freqlab.lowpass_filter(latents, "gaussian", 0.25, 0.25)
    mask = freqlab.lowpass_filter(latents.shape, "gaussian", 0.25, 0.25)
    assert mask.shape == latents.shape
    assert torch.equal(mask, freqlab.lowpass_filter([1, 4, 4, 8, 8], "gaussian", 0.25, 0.25))
    with pytest.raises(ValueError, match="shape must be a sequence of ints"):
        freqlab.lowpass_filter(("a", 4, 4), "gaussian", 0.25, 0.25)


def test_one_filter_default_freeinits_gaussian():
    import inspect

    default = inspect.signature(freqlab.lowpass_filter).parameters["method"].default
    assert default == "gaussian" == inspect.signature(freqlab.FreeInit).parameters["method"].default
    assert inspect.signature(freqlab.highpass_filter).parameters["method"].default == default
    shape = (1, 2, 4, 8, 8)
    assert torch.equal(freqlab.lowpass_filter(shape), freqlab.lowpass_filter(shape, "gaussian"))
    assert freqlab.spectral.validate_filter_args.__doc__  # the docstring comes first
