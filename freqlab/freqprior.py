"""FreqPrior (Yuan et al., ICLR 2025, arXiv 2502.03496) as a sampler around a diffusers pipeline.

``FreqPrior(...)(pipe, **call_kwargs)`` runs ``num_iters`` sampling passes of ``pipe``, like
:class:`freqlab.FreeInit`, with two changes:

* **the prior** (:func:`freqprior_noise`): a refinement's noise keeps the low frequencies of the
  re-noised latent through two correlated branches and fills the high band with fresh noise
  weighted ``sqrt(1 - L^2)`` (power-complementary), so that it has unit variance per frequency
  when its input does. FreeInit's mix (weight ``1 - L``) has variance
  ``mean(L^2) + mean((1 - L)^2)`` instead: 0.96 for the Gaussian filter at d0 0.25, 0.99 for
  Butterworth n=4 (the paper's "variance decay").
* **partial sampling**: the latent entering the step whose timestep is ``mid_step`` (z_mid) is
  captured on the way; passes before the last stop there (``save_intermediate=False``, the
  official default) and the next pass re-noises z_mid, not a clean latent, to the last training
  timestep with the *same* initial noise: ``z_T = sqrt(s) z_mid + sqrt(1 - s) eps``,
  ``s = alpha_bar[T-1] / alpha_bar[mid_step]``. On a zero-terminal-SNR schedule (alpha_bar[T-1]
  = 0) that is pure noise; ``renoise_timestep="auto"`` then targets the timestep with the SNR of
  AnimateDiff's t = 999 instead, as FreeInit (:func:`freqlab.schedules.resolve_renoise_timestep`).
  At 25 DDIM steps (timesteps 961, 921, ..., 1) and ``mid_step=321`` (index 16), 3 passes cost
  16 + 16 + 25 = 57 UNet calls, FreeInit's 75.
* **the stop on flow-matching schedules** is a noise level, ``mid_sigma``, not a timestep:
  their timesteps are ``sigma x 1000`` after a shift (Wan: 3 to 12), so "timestep 321" would be
  sigma 0.321 whatever the shift, far less noise than the paper's stop. mid_step 321 on
  AnimateDiff's DDPM schedule (linear betas 0.00085 -> 0.012, where the method was designed) has
  ``alpha_bar = 0.4266``, an SNR of -1.28 dB; a flow latent ``(1 - s) x0 + s eps`` has the SNR
  ``((1 - s) / s)^2``, so the same SNR is ``s = 1 / (1 + sqrt(alpha_bar / (1 - alpha_bar)))`` =
  0.5369 (:data:`FLOW_MID_SIGMA`, ``mid_sigma="auto"``). The same rule maps the re-noising
  target, t = 999 (``alpha_bar`` 0.00158), to 0.9618: ``flow_sigma`` 0.96. Passes stop at the
  inference step after the first whose sigma (``scheduler.sigmas``) is nearest ``mid_sigma``
  (ties: the earlier, noisier one; :func:`flow_mid_index`); ``mid_step`` is not used there, as
  ``flow_sigma`` is not on DDPM-type schedules. A step fraction would not hold the noise level:
  the official stop is 16 of 25 steps (64%), but sigma 0.537 comes after 36 of 50 UniPC steps at
  Wan 2.1's shift 3 (72%) and 36 of 40 at Wan 2.2 A14B's shift 12 (90%).
* **pipelines that set their own schedule**: LTX-Video, Mochi and HunyuanVideo 1.5 pass their
  own sigmas to ``set_timesteps`` inside ``__call__``, so the stop is located on that schedule,
  reproduced with diffusers' own helpers (:mod:`freqlab.pipeline_schedules`; LTX-Video's shift
  ``mu`` from the latent grid); every pass checks at its first step that the pipeline's
  scheduler holds it and refuses otherwise. Mochi's scheduler counts backwards
  (``invert_sigmas``: its sigma 0 is pure noise): its sigmas are read as noise levels ``1 -
  sigma`` (:func:`freqlab.schedules.flow_noise_level`) for the stop and the re-noising.

Every pass is one ordinary ``pipe(..., latents=..., output_type="latent")`` call. z_mid is
captured by wrapping ``pipe.scheduler.step`` for the call (the latent it returns just before the
``mid_step`` step); a pass that stops leaves the pipeline's loop by an exception the sampler
catches, so it works with every pipeline, interrupt flag or not.

Schedulers (:func:`freqlab.schedules.noising_rule`), with z_mid converted as each one's loop holds
it: DDIM/DDPM-family (``add_noise`` rule), ``sigmas``-table schedulers whose loop latents are
unit-variance (DPM-Solver, UniPC, DEIS: ``alpha_bar_mid = 1 / (1 + sigma_mid^2)``) or in sigma
units (Euler, Heun, LMS: ``init_noise_sigma != 1``; divided by ``sqrt(1 + sigma_mid^2)`` first),
and flow matching: ``z_T = a z_mid + b eps`` with ``a = (1 - sigma_T) / (1 - sigma_mid)`` and
``b = sqrt(sigma_T^2 - a^2 sigma_mid^2)`` (the same clean-signal weight and total noise as the
rule's own path), ``sigma_T = flow_sigma`` as in FreeInit. Anything else fails before sampling
with :class:`freqlab.schedules.UnsupportedSchedulerError` naming the scheduler.

What freqlab does differently from the official code (fudan-zvg/FreqPrior @ 6fb766e), and why:

* **RNG.** The official code draws eta_1, eta_2 from numpy's global RNG and y_1, y_2 (and the
  initial noise) from torch's global CUDA RNG; bit parity with it is not possible, and the tests
  check the formulas instead (an independent reference, and the variance). freqlab draws
  everything with ``randn_tensor`` in one of FreeInit's two protocols (``rng=``): ``per_sample``
  (video i's draws for pass k come from generators seeded ``pass_seed(seed_i, k)``, in the order
  eta_1, eta_2, y_1, y_2) or ``diffusers`` (the caller's generator: the initial noise, then per
  refinement eta_1, eta_2, y_1, y_2, then whatever the scheduler draws in the pass).
* **mid_step.** The official ``__call__`` default ``mid_step=0`` crashes when iterating (t = 0
  never occurs with ``steps_offset=1``, so z_mid stays ``None``); freqlab's default is the
  scripts' 321 and any value must be one of the schedule's timesteps after the first (else one
  ValueError listing the nearest ones; 0 works where the schedule reaches t = 0, e.g. linspace). 321 exists in DDIM "leading" schedules with
  ``steps_offset=1`` over 1000 training steps at 25 and 50 steps (e.g. AnimateDiff's); not at
  25 ``linspace`` steps (freqlab's testbed: 333 is the nearest). The runner's
  ``freqprior.mid_step=auto`` picks the timestep nearest 321 (DDPM-type schedules; flow-matching
  ones stop at ``mid_sigma``, above).
* **Stopped passes are not decoded** (the official code VAE-decodes the noisy z_mid of every
  non-final pass and shows it): ``result.latents[k]`` is ``None`` for them.
* **Re +- Im.** The two-branch output ``(Re m_1 + Im m_1 + Re m_2 - Im m_2) / sqrt(2)`` is kept
  as the official; it matters only for odd F, h or w, where the fftshifted filter is off-centre
  and the mixed noise complex (for even sizes the imaginary parts are ~1e-7).

References: Yuan et al., "FreqPrior: Improving Video Diffusion Models with Frequency Filtering
Gaussian Noise", arXiv 2502.03496 (ICLR 2025); the official code, github.com/fudan-zvg/FreqPrior
at commit 6fb766e (``animatediff/pipelines/pipeline_animation.py``,
``AnimationFreqPriorPipeline.__call__``, and ``animatediff/utils/freqprior_utils.py``,
``freq_mix_noise_3d``).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from freqlab.checks import check_bool, check_int
from freqlab.pipeline_schedules import OWN_SCHEDULES, inference_schedule, same_schedule
from freqlab.sampling import (
    RNG_MODES,
    CallCounter,
    PassDict,
    SamplingResult,
    UnsupportedPipelineError,
    denoisers,
    latent_dtype,
    prepare_call,
)
from freqlab.schedules import (
    check_flow_sigma,
    check_renoise_timestep,
    flow_noise_level,
    noising_rule,
    resolve_renoise_timestep,
)
from freqlab.spectral import lowpass_filter, validate_filter_args

__all__ = [
    "FLOW_MID_SIGMA",
    "FreqPrior",
    "FreqPriorResult",
    "check_mid_sigma",
    "flow_mid_index",
    "freqprior_noise",
    "inference_schedule",
    "renoise_from_mid",
    "snr_matched_sigma",
]

_FFT_DIMS = (-3, -2, -1)


# --------------------------------------------------------------------------- the stop on flow


def snr_matched_sigma(alpha_bar: float) -> float:
    """The flow-matching noise level ``s`` whose latent ``(1 - s) x0 + s eps`` has the SNR of a
    DDPM latent ``sqrt(a) x0 + sqrt(1 - a) eps`` with ``a = alpha_bar``: ``(1 - s) / s =
    sqrt(a / (1 - a))``, so ``s = 1 / (1 + sqrt(a / (1 - a)))``."""
    if not 0.0 < alpha_bar < 1.0:
        raise ValueError(f"alpha_bar must be in (0, 1), got {alpha_bar}")
    return 1.0 / (1.0 + math.sqrt(alpha_bar / (1.0 - alpha_bar)))


def _animatediff_alpha_bar(t: int) -> float:
    """alpha_bar at training timestep ``t`` of AnimateDiff's schedule, the one FreqPrior's
    mid_step 321 was chosen on: 1000 linear betas 0.00085 -> 0.012 (float64; diffusers' float32
    table agrees to 1e-7)."""
    betas = [0.00085 + (0.012 - 0.00085) * i / 999 for i in range(1000)]
    return math.prod(1.0 - b for b in betas[: t + 1])


# The official mid_step 321 as a flow-matching noise level (SNR -1.28 dB), rounded to 4 places so
# that records read 0.5369 (the nearest-step rule below cannot tell the difference).
FLOW_MID_SIGMA = round(snr_matched_sigma(_animatediff_alpha_bar(321)), 4)


def check_mid_sigma(mid_sigma: object) -> float:
    """``mid_sigma`` as a float: ``"auto"`` is :data:`FLOW_MID_SIGMA`; a number must be in (0, 1)
    (sigma 1 is the first step's pure noise, 0 the clean end: neither is a stop inside)."""
    if mid_sigma == "auto":
        return FLOW_MID_SIGMA
    if isinstance(mid_sigma, bool) or not isinstance(mid_sigma, (int, float)):
        raise ValueError(f"mid_sigma must be auto or a number in (0, 1), got {mid_sigma!r}")
    if not 0.0 < float(mid_sigma) < 1.0:  # NaN fails too
        raise ValueError(
            f"mid_sigma must be in (0, 1), a flow-matching noise level, got {mid_sigma}"
        )
    return float(mid_sigma)


def flow_mid_index(mid_sigma: float, sigmas: list[float], scheduler_name: str) -> int:
    """The inference step where FreqPrior's passes stop on a flow-matching schedule: the index
    (>= 1) of the step whose sigma is nearest ``mid_sigma``, ties to the earlier (noisier) one.

    Args:
        mid_sigma: the target noise level in (0, 1).
        sigmas: the schedule's sigma of each inference step, ``scheduler.sigmas`` without its
            trailing 0 (``(num_inference_steps,)``).
        scheduler_name: for the error message.

    Raises:
        ValueError: with fewer than 2 steps (nothing after the first to stop at).
    """
    if len(sigmas) < 2:
        raise ValueError(
            f"mid_sigma: {scheduler_name} at {len(sigmas)} step has no step after the first to "
            "stop at (FreqPrior needs >= 2 inference steps)"
        )
    return min(range(1, len(sigmas)), key=lambda i: (abs(sigmas[i] - mid_sigma), i))


# --------------------------------------------------------------------------- the prior


def _mix(x: torch.Tensor, y: torch.Tensor, lpf_unshifted: torch.Tensor) -> torch.Tensor:
    """``IFFT3(F(x) L + F(y) sqrt(1 - L^2))``, complex (the official ``freq_mix_noise_3d``
    before its output type)."""
    high = (1.0 - lpf_unshifted.square()).clamp_min(0.0).sqrt()
    spectrum = torch.fft.fftn(x, dim=_FFT_DIMS) * lpf_unshifted
    spectrum = spectrum + torch.fft.fftn(y, dim=_FFT_DIMS) * high
    return torch.fft.ifftn(spectrum, dim=_FFT_DIMS)


def freqprior_noise(
    z_t: torch.Tensor,
    eta: tuple[torch.Tensor, torch.Tensor],
    y: tuple[torch.Tensor, torch.Tensor],
    lpf: torch.Tensor,
    ratio: float,
) -> torch.Tensor:
    """FreqPrior's refined noise from the re-noised latent ``z_t``.

    ``x_i = (r z_t + sqrt(1 - r^2) eta_i) / sqrt(1 + r^2)``,
    ``m_i = IFFT3(F(x_i) L + F(y_i) sqrt(1 - L^2))`` and
    ``out = ((Re m_1 + Im m_1) + (Re m_2 - Im m_2)) / sqrt(2)``. For even sizes this is
    ``L(a z_t + sqrt(1 - a^2) xi) + H xi'`` with ``a = r sqrt(2 / (1 + r^2))``, ``L^2 + H^2 = I``
    and xi, xi' standard normal: unit covariance when ``z_t`` is standard normal.

    Args:
        z_t: ``(B, C, T, h, w)``, the latent re-noised to the last timestep.
        eta: the two branches' extra noise, each of ``z_t``'s shape.
        y: the two branches' high-frequency noise, each of ``z_t``'s shape.
        lpf: low-pass filter in fftshifted layout broadcasting to ``z_t``
            (:func:`freqlab.spectral.lowpass_filter`).
        ratio: r in (0, 1], the weight of ``z_t`` in each branch.

    Returns:
        float32 (float64 stays float64) tensor of ``z_t``'s shape.
    """
    for name, t in (("eta[0]", eta[0]), ("eta[1]", eta[1]), ("y[0]", y[0]), ("y[1]", y[1])):
        if t.shape != z_t.shape:
            raise ValueError(
                f"{name} must have the shape of z_t {tuple(z_t.shape)}, got {tuple(t.shape)}"
            )
    dtype = torch.float64 if z_t.dtype == torch.float64 else torch.float32
    mask = torch.fft.ifftshift(lpf.to(device=z_t.device, dtype=dtype), dim=_FFT_DIMS)
    r = float(ratio)
    keep, add, norm = r, math.sqrt(max(0.0, 1.0 - r * r)), math.sqrt(1.0 + r * r)
    z = z_t.to(dtype)
    x1 = (keep * z + add * eta[0].to(dtype)) / norm
    x2 = (keep * z + add * eta[1].to(dtype)) / norm
    m1, m2 = _mix(x1, y[0].to(dtype), mask), _mix(x2, y[1].to(dtype), mask)
    return ((m1.real + m1.imag) + (m2.real - m2.imag)) / math.sqrt(2.0)


# --------------------------------------------------------------------------- partial diffusion


def renoise_from_mid(
    scheduler: Any,
    z_mid: torch.Tensor,
    noise: torch.Tensor,
    mid_index: int,
    flow_sigma: float = 0.96,
    renoise_timestep: int | str = "auto",
) -> torch.Tensor:
    """Diffuse the sampling loop's latent at inference step ``mid_index`` to the last training
    timestep with ``noise`` (FreqPrior's partial forward diffusion), in unit-variance units.

    ``scheduler`` must have run ``set_timesteps`` for the pass that produced ``z_mid`` (its
    ``timesteps`` / ``sigmas`` are read at ``mid_index``). See the module docstring for each
    scheduler family's rule. ``renoise_timestep`` replaces the last timestep as in
    :func:`freqlab.schedules.resolve_renoise_timestep` (DDPM-type schedulers only; ``"auto"``
    changes it only on zero-terminal-SNR schedules).

    Raises:
        ValueError: when the target is less noisy than mid_step (re-noising cannot remove noise).

    Returns:
        ``z_mid``'s shape and dtype.
    """
    rule = noising_rule(scheduler)
    dtype = z_mid.dtype
    z, eps = z_mid.to(torch.float32), noise.to(device=z_mid.device, dtype=torch.float32)
    if rule == "flow":
        sigma_t = check_flow_sigma(flow_sigma)
        # A noise level in freqlab's convention (Mochi's inverted sigmas read back).
        sigma_mid = flow_noise_level(scheduler, float(scheduler.sigmas[mid_index]))
        if sigma_mid > sigma_t:
            raise ValueError(
                f"flow_sigma {sigma_t} is below the noise level where the passes stop (sigma "
                f"{sigma_mid:.4f}, the step nearest mid_sigma): re-noising cannot remove noise"
            )
        a = (1.0 - sigma_t) / (1.0 - sigma_mid)
        b = math.sqrt(max(0.0, sigma_t**2 - (a * sigma_mid) ** 2))
        return (a * z + b * eps).to(dtype)
    target = resolve_renoise_timestep(scheduler, renoise_timestep)
    last = float(scheduler.alphas_cumprod[target])
    if rule == "add_noise":
        alpha_mid = float(scheduler.alphas_cumprod[int(scheduler.timesteps[mid_index])])
    else:  # a sigmas table: sigma = sqrt((1 - a) / a)
        sigma = float(scheduler.sigmas[mid_index])
        alpha_mid = 1.0 / (1.0 + sigma**2)
        if abs(float(scheduler.init_noise_sigma) - 1.0) > 1e-6:  # loop in sigma units: x0 + s eps
            z = z * math.sqrt(alpha_mid)
    s = last / alpha_mid
    if s > 1.0:
        raise ValueError(
            f"renoise_timestep {target} is less noisy than mid_step (alpha_bar {last:.4g} > "
            f"{alpha_mid:.4g}): re-noising cannot remove noise"
        )
    return (math.sqrt(s) * z + math.sqrt(max(0.0, 1.0 - s)) * eps).to(dtype)


# --------------------------------------------------------------------------- capture / stop


class _Stop(Exception):
    """Raised from the wrapped ``scheduler.step`` to leave a pass at ``mid_step``."""


class _MidCapture:
    """Wraps ``scheduler.step`` for one pipeline call: keeps the latent the step before
    ``mid_step`` returns (z_mid) and, when ``stop``, ends the call there with :class:`_Stop`.

    At the first step the pipeline has set its schedule: when ``expected`` (the schedule the
    stop was located on, :func:`inference_schedule`) is given, the pipeline's must be the same,
    else the call ends with :class:`UnsupportedPipelineError` naming ``pipeline``: the stop
    would be at another noise level than documented, and z_mid re-noised from the wrong one."""

    def __init__(
        self,
        scheduler: Any,
        mid_index: int,
        stop: bool,
        expected: Any = None,
        pipeline: str = "",
    ) -> None:
        self.scheduler, self.mid_index, self.stop = scheduler, mid_index, stop
        self.expected, self.pipeline = expected, pipeline
        self.calls, self.latent = 0, None

    def _check_schedule(self) -> None:
        if self.expected is None or same_schedule(self.scheduler, self.expected):
            return
        n = len(self.expected.timesteps)
        listed = [round(float(t), 2) for t in self.expected.timesteps[:n]]
        live = [round(float(t), 2) for t in getattr(self.scheduler, "timesteps", [])]
        raise UnsupportedPipelineError(
            f"pipeline {self.pipeline} set its scheduler to timesteps {live}, not the {listed} "
            f"FreqPrior located its stop on: it sets its own schedule in a way freqlab does not "
            f"reproduce (known: {', '.join(OWN_SCHEDULES)})"
        )

    def __enter__(self) -> _MidCapture:
        original = self.scheduler.step

        @functools.wraps(original)  # keeps the signature: pipelines inspect it for eta/generator
        def step(*args: Any, **kwargs: Any) -> Any:
            if self.calls == 0:
                self._check_schedule()
            out = original(*args, **kwargs)
            self.calls += 1
            if self.calls == self.mid_index and self.latent is None:
                prev = out[0] if isinstance(out, tuple) else out.prev_sample
                self.latent = prev.clone()
                if self.stop:
                    raise _Stop
            return out

        self.scheduler.step = step
        return self

    def __exit__(self, *exc: object) -> bool:
        del self.scheduler.step  # the class's method again
        return exc[0] is _Stop


# The former name (tests and callers that set a plain schedule).
_inference_schedule = inference_schedule


def mid_step_index(mid_step: int, timesteps: list[float], scheduler_name: str) -> int:
    """Index of ``mid_step`` in ``timesteps`` (after the first); a ValueError naming the nearest
    ones otherwise. Float timesteps (Euler-type schedulers) match when they round to
    ``mid_step``. DDPM-type schedules only: flow-matching ones use :func:`flow_mid_index`."""
    for i, t in enumerate(timesteps[1:], start=1):
        if round(t) == mid_step:
            return i
    later = sorted({round(t) for t in timesteps[1:]}, key=lambda t: abs(t - mid_step))[:3]
    raise ValueError(
        f"mid_step must be one of the schedule's timesteps after the first ({round(timesteps[0])}) "
        f"of {scheduler_name} at {len(timesteps)} steps, got {mid_step}; nearest: "
        f"{', '.join(map(str, sorted(later, reverse=True))) or 'none (needs >= 2 steps)'}"
    )


# --------------------------------------------------------------------------- FreqPrior


@dataclass
class FreqPriorResult(SamplingResult):
    """Every pass of one :class:`FreqPrior` run (see :class:`freqlab.sampling.SamplingResult`).

    Passes stopped at ``mid_step`` have ``latents[i] = None`` (no clean latent); their
    ``steps`` and ``unet_calls`` count the steps they ran.

    Attributes:
        mid_latents: z_mid of each pass ``(B, C, T, h, w)``, as the scheduler's loop holds it
            (the latent entering the ``mid_step`` step); the next pass re-noises it.
        mid_step: the timestep z_mid is taken at (rounded; the scheduler's, so Mochi's counts
            backwards); ``mid_index`` its inference-step index.
        mid_sigma: on flow-matching schedules the noise level z_mid is taken at (the
            schedule's nearest to the requested ``mid_sigma``; Mochi's ``1 - sigma``); None on
            DDPM-type ones.
    """

    mid_latents: list[torch.Tensor] = field(default_factory=list)
    mid_step: int = 0
    mid_index: int = 0
    mid_sigma: float | None = None

    @property
    def final(self) -> torch.Tensor:
        return self.latents[-1]

    def decode(self, pipe: Any, k: int = -1, chunk_size: int = 16) -> torch.Tensor:
        index = k + self.first_pass + len(self.latents) if isinstance(k, int) and k < 0 else k
        i = index - self.first_pass if isinstance(index, int) else -1
        if 0 <= i < len(self.latents) and self.latents[i] is None:
            raise ValueError(
                f"decode: pass {index} stopped at mid_step {self.mid_step} and has no clean "
                "latent (run with save_intermediate=True to finish every pass)"
            )
        return super().decode(pipe, k, chunk_size)


class FreqPrior:
    """FreqPrior's frequency-filtered noise prior with partial sampling, driving a pipeline.

    Args:
        num_iters: sampling passes (1 = plain sampling; the official default 3).
        ratio: r in (0, 1], weight of the re-noised latent in the two low-frequency branches.
        mid_step: the timestep where passes before the last stop and z_mid is taken; one of the
            schedule's timesteps after the first (see the module docstring). DDPM-type
            schedules only.
        method, d_s, d_t, order: the low-pass filter (:func:`freqlab.spectral.lowpass_filter`);
            the official example configs use butterworth n=4 at 0.25/0.25.
        save_intermediate: run every pass to the end (z_mid is still what the next pass
            re-noises, so results are identical; DDIM with eta 0 draws nothing after mid_step),
            so each pass has a clean latent to decode and measure, at the cost of the steps
            after ``mid_step``.
        rng: ``"per_sample"`` or ``"diffusers"``, as :class:`freqlab.FreeInit` (draw order in
            the module docstring).
        flow_sigma: the re-noised level for flow-matching schedulers, in (0, 1).
        renoise_timestep: the re-noising target on DDPM-type schedulers, as
            :class:`freqlab.FreeInit`'s: ``"auto"`` (the last training timestep, or on a
            zero-terminal-SNR schedule the one at the reference's -28 dB), ``"last"`` or an int.
        mid_sigma: the stop on flow-matching schedulers, a noise level in (0, 1): passes stop
            at the step whose sigma is nearest it. ``"auto"``: :data:`FLOW_MID_SIGMA`, 0.5369,
            the SNR of mid_step 321 on AnimateDiff's schedule (module docstring).

    Call ``freqprior(pipe, decode=None, decode_chunk=16, start_pass=0, previous=None,
    on_pass=None, **call_kwargs)`` as :class:`freqlab.FreeInit`, except that ``previous`` is
    z_mid of pass ``start_pass - 1`` and ``on_pass(k, latents, mid_latent)`` gets z_mid too
    (``latents`` is None for a stopped pass).
    """

    def __init__(
        self,
        num_iters: int = 3,
        ratio: float = 0.8,
        mid_step: int = 321,
        method: str = "butterworth",
        d_s: float = 0.25,
        d_t: float = 0.25,
        order: float = 4,
        save_intermediate: bool = False,
        rng: str = "per_sample",
        flow_sigma: float = 0.96,
        renoise_timestep: int | str = "auto",
        mid_sigma: float | str = "auto",
    ) -> None:
        check_int("num_iters", num_iters, 1)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
            raise ValueError(f"ratio must be a number in (0, 1], got {ratio!r}")
        if not 0.0 < float(ratio) <= 1.0:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        check_int("mid_step", mid_step, 0)
        validate_filter_args(method, d_s, d_t, order)
        check_bool("save_intermediate", save_intermediate)
        if rng not in RNG_MODES:
            raise ValueError(f"rng must be one of {RNG_MODES}, got {rng!r}")
        check_flow_sigma(flow_sigma)
        self.renoise_timestep = check_renoise_timestep(renoise_timestep)
        self.mid_sigma = check_mid_sigma(mid_sigma)
        self.num_iters, self.ratio, self.mid_step = num_iters, float(ratio), mid_step
        self.method, self.d_s, self.d_t, self.order = method, float(d_s), float(d_t), order
        self.save_intermediate, self.rng, self.flow_sigma = (
            save_intermediate,
            rng,
            float(flow_sigma),
        )

    @property
    def config(self) -> dict[str, Any]:
        return dict(
            num_iters=self.num_iters,
            ratio=self.ratio,
            mid_step=self.mid_step,
            method=self.method,
            d_s=self.d_s,
            d_t=self.d_t,
            order=self.order,
            save_intermediate=self.save_intermediate,
            rng=self.rng,
            flow_sigma=self.flow_sigma,
            renoise_timestep=self.renoise_timestep,
            mid_sigma=self.mid_sigma,
        )

    def __repr__(self) -> str:
        return f"FreqPrior({', '.join(f'{k}={v!r}' for k, v in self.config.items())})"

    def steps(self, num_inference_steps: int, mid_index: int | None = None) -> list[int]:
        """Denoising steps of each pass: all of them with ``save_intermediate``, else
        ``mid_index`` (the index of ``mid_step`` in the schedule, required then) for every
        pass before the last."""
        check_int("num_inference_steps", num_inference_steps, 1)
        last = [num_inference_steps]
        if self.save_intermediate:
            return last * self.num_iters
        if mid_index is None:
            raise ValueError("steps: pass mid_index (the passes before the last stop there)")
        return [mid_index] * (self.num_iters - 1) + last

    def _stop_index(self, schedule: Any, scheduler_name: str) -> int:
        """The inference-step index passes stop at on ``schedule`` (set to the run's steps):
        ``mid_sigma``'s nearest step on flow-matching schedules, else ``mid_step``'s."""
        if noising_rule(schedule) == "flow":
            n = len(schedule.timesteps)
            sigmas = [flow_noise_level(schedule, float(s)) for s in schedule.sigmas[:n]]
            return flow_mid_index(self.mid_sigma, sigmas, scheduler_name)
        timesteps = [float(t) for t in schedule.timesteps]
        return mid_step_index(self.mid_step, timesteps, scheduler_name)

    def _checked_stop_index(self, schedule: Any, scheduler_name: str) -> int:
        """:meth:`_stop_index`, with the re-noising target checked against it (on a dummy
        latent): a target less noisy than the stop is refused before any sampling."""
        index = self._stop_index(schedule, scheduler_name)
        dummy = torch.zeros(1)
        renoise_from_mid(schedule, dummy, dummy, index, self.flow_sigma, self.renoise_timestep)
        return index

    def mid_index(
        self,
        scheduler: Any,
        num_inference_steps: int,
        pipeline: Any = None,
        latent_size: tuple[int, ...] | None = None,
    ) -> int:
        """The inference-step index where passes before the last stop, for ``scheduler`` at
        ``num_inference_steps`` (``scheduler`` is not changed): the number of denoising steps a
        stopped pass runs. A ValueError naming ``mid_step`` / ``mid_sigma`` when there is none,
        or ``flow_sigma`` / ``renoise_timestep`` when the re-noising target is less noisy than
        the stop.

        ``pipeline`` and ``latent_size`` as :func:`inference_schedule`: pipelines that set their
        own sigmas (LTX-Video, Mochi, HunyuanVideo 1.5) stop elsewhere than the scheduler's plain
        schedule says, so pass the pipeline (or its class name) for them, and LTX-Video's latent
        grid ``(T, h, w)``. Without ``pipeline`` a scheduler only such a pipeline uses is refused
        (Mochi's ``invert_sigmas``; LTX-Video's dynamic shift needs ``mu``) rather than answered
        for a schedule no pipeline runs."""
        if pipeline is None and scheduler.config.get("invert_sigmas"):
            raise UnsupportedPipelineError(
                f"mid_index: {type(scheduler).__name__} with invert_sigmas (Mochi's) runs the "
                "schedule its pipeline passes: pass pipeline= (e.g. 'MochiPipeline')"
            )
        schedule = inference_schedule(scheduler, num_inference_steps, pipeline, latent_size)
        return self._checked_stop_index(schedule, type(scheduler).__name__)

    @torch.no_grad()
    def __call__(
        self,
        pipe: Any,
        *,
        decode: Any = None,
        decode_chunk: int = 16,
        start_pass: int = 0,
        previous: torch.Tensor | None = None,
        on_pass: Callable[..., None] | None = None,
        **call_kwargs: Any,
    ) -> FreqPriorResult:
        """Run passes ``start_pass .. num_iters - 1`` of ``pipe``; see the class docstring."""
        call = prepare_call(
            "FreqPrior",
            pipe,
            call_kwargs,
            rng=self.rng,
            num_iters=self.num_iters,
            start_pass=start_pass,
            previous=previous,
            on_pass=on_pass,
            decode=decode,
            decode_chunk=decode_chunk,
        )
        scheduler = pipe.scheduler
        rule = noising_rule(scheduler)  # fail before sampling
        num_steps = call.num_inference_steps
        # The schedule as the pipeline sets it (LTX-Video's shift from its latent grid).
        schedule = inference_schedule(scheduler, num_steps, pipe, call.shape[2:])
        timesteps = [float(t) for t in schedule.timesteps]
        # The stop, and the re-noising target against it, checked before sampling.
        mid_index = self._checked_stop_index(schedule, type(scheduler).__name__)
        mid_sigma = (
            flow_noise_level(schedule, float(schedule.sigmas[mid_index]))
            if rule == "flow"
            else None
        )
        # What the stop is, for messages: the timestep, and on flow schedules its sigma.
        stop = f"mid_step {round(timesteps[mid_index])}" + (
            f" (sigma {mid_sigma:.4f}, mid_sigma {self.mid_sigma})" if rule == "flow" else ""
        )
        steps = self.steps(num_steps, mid_index)
        stopped = {k for k in call.passes if steps[k] < num_steps}
        if stopped & set(call.decode_at):
            raise ValueError(
                f"decode: passes {sorted(stopped & set(call.decode_at))} stop at mid_step and "
                "have no clean latent (save_intermediate=True runs them to the end)"
            )
        shape, device, noise = call.shape, call.device, call.noise
        lpf = lowpass_filter(
            (1, *shape[1:]), self.method, self.d_s, self.d_t, self.order, device, torch.float32
        )
        eps = noise.initial(shape, device, latent_dtype(pipe))
        previous = call.check_previous(previous, "z_mid", eps.dtype)
        latents: list[torch.Tensor | None] = []
        mids: list[torch.Tensor] = []
        inputs, unet_calls, seconds = [], [], []
        counter = CallCounter(denoisers(pipe))  # both experts of a two-expert pipeline
        for k in call.passes:
            start = time.perf_counter()
            if k == 0:
                inputs.append(eps)
            else:
                z_mid = mids[-1] if mids else previous
                z_t = renoise_from_mid(
                    schedule, z_mid, eps, mid_index, self.flow_sigma, self.renoise_timestep
                )
                draws = noise.fresh_many(k, shape, device, 4)  # eta_1, eta_2, y_1, y_2
                refined = freqprior_noise(z_t, tuple(draws[:2]), tuple(draws[2:]), lpf, self.ratio)
                inputs.append(refined.to(eps.dtype))
            calls_before = counter.count
            capture = _MidCapture(scheduler, mid_index, k in stopped, schedule, type(pipe).__name__)
            out = None
            with counter, capture:
                out = call.run_pass(inputs[-1], num_steps)
            if capture.latent is None:
                raise UnsupportedPipelineError(
                    f"pipeline {type(pipe).__name__} never reached {stop}: its "
                    "scheduler.step was not called at the expected timesteps"
                )
            if k not in stopped:
                call.check_output(out)
            latents.append(None if k in stopped else out)
            # Captured inside the pipeline's loop: in its layout (CogVideoX's (B, T, C, h, w)).
            mids.append(call.to_canonical(capture.latent))
            unet_calls.append(counter.count - calls_before)
            seconds.append(time.perf_counter() - start)
            if on_pass is not None:
                on_pass(k, latents[-1], mids[-1])

        result = FreqPriorResult(
            latents=latents,
            pass_inputs=inputs,
            steps=steps[start_pass:],
            unet_calls=unet_calls if counter.module is not None else [],
            lpf=lpf,
            seeds=noise.seeds,
            seconds=seconds,
            config=self.config,
            noising=rule,
            videos=PassDict(self.num_iters),
            first_pass=start_pass,
            eps=eps,
            mid_latents=mids,
            mid_step=round(timesteps[mid_index]),  # = self.mid_step on DDPM-type schedules
            mid_index=mid_index,
            mid_sigma=mid_sigma,
        )
        for k in call.decode_at:
            result.decode(pipe, k, decode_chunk)
        return result
