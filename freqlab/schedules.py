"""Noise schedules: how noisy a latent is at a training timestep, and how to get it there.

A diffusers scheduler defines a forward process ``z_t = sqrt(signal_t) z0 + sqrt(noise_t) eps``
over its training timesteps. This module answers both questions from any scheduler:

* **how to get there**: :func:`noising_rule` says how a clean latent is noised under a scheduler
  (its own ``add_noise``, ``alphas_cumprod`` by hand, or a flow-matching path), and
  :func:`diffuse` noises ``z0`` to any training timestep with it; FreeInit's
  :func:`diffuse_to_last_timestep` is the ``t = T - 1`` case (or, on a zero-terminal-SNR
  schedule, the timestep :func:`resolve_renoise_timestep` picks), and FreqPrior's partial
  diffusion from an intermediate timestep is the general one;
* **how noisy**: :class:`NoiseSchedule` holds the signal and noise weights by timestep and the
  first timestep of sampling (:func:`schedule_from_scheduler`), and :func:`compare_schedules`
  builds the variants compared by ``task=snr`` (the model's own, zero terminal SNR, ``linear``,
  ``scaled_linear``, a flow-matching sigma path).

Both follow the same rules, so ``diffuse(s, z0, eps, t)`` has exactly the weights
``sqrt(schedule_from_scheduler(s).signal[t])`` and ``sqrt(...noise[t])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from freqlab.checks import check_int

__all__ = [
    "REFERENCE_SNR_DB",
    "RENOISE_RULES",
    "SCHEDULE_NAMES",
    "ZERO_SNR_DB",
    "NoiseSchedule",
    "UnsupportedSchedulerError",
    "check_flow_sigma",
    "check_renoise_timestep",
    "compare_schedules",
    "config_flow_shift",
    "diffuse",
    "diffuse_to_last_timestep",
    "flow_noise_level",
    "flow_snr_db",
    "last_timestep_snr_db",
    "noising_rule",
    "renoise_snr_db",
    "resolve_renoise_timestep",
    "schedule_from_scheduler",
    "shifted_sigmas",
    "training_snr_db",
]

SCHEDULE_NAMES = ("model", "zero_snr", "linear", "scaled_linear", "flow")
# Beta endpoints of the comparison schedules when the model's own schedule has none (flow models).
SD_BETAS = (0.00085, 0.012)

# Re-noising on zero-terminal-SNR schedules (FreeInit, FreqPrior). FreeInit re-noises to the
# last training timestep, t = 999; on AnimateDiff's schedule (linear betas 0.00085 -> 0.012,
# where the method was designed) that level keeps some signal: alpha_bar_999 = 0.001579, an SNR
# of -28.01 dB. A zero-terminal-SNR schedule (Lin et al. 2023; CogVideoX, or any
# rescale_betas_zero_snr=True) has alpha_bar_999 = 0, so t = 999 is pure noise and a refinement
# would keep nothing of the previous pass. There the re-noising goes instead to the training
# timestep whose SNR is nearest the reference's (REFERENCE_SNR_DB), as flow_sigma = 0.96 does for
# flow matching. "Zero" means an SNR below ZERO_SNR_DB at the last timestep: it catches an exact
# 0 (DDIM/DDPM: -inf dB) and Euler's 2**-24 floor (-72.2 dB), and leaves every ordinary schedule
# alone (SD's scaled_linear -23.3 dB, AnimateDiff's linear -28.0, DDPM's linear 1e-4 -> 0.02
# -43.9 dB, VideoCrafter2 -26.4 with its data scale).
REFERENCE_SNR_DB = -28.0
ZERO_SNR_DB = -60.0
RENOISE_RULES = ("auto", "last")


class UnsupportedSchedulerError(ValueError):
    """The scheduler has no known way to noise a clean latent to a training timestep."""


# --------------------------------------------------------------------------- noising


def noising_rule(scheduler: Any) -> str:
    """How a clean latent is diffused to a training timestep under ``scheduler``.

    Returns:
        ``"add_noise"``: DDIM/DDPM-family schedulers (no ``sigmas`` table), whose ``add_noise``
        indexes ``alphas_cumprod`` by training timestep: used as is, for parity with the
        reference and diffusers.
        ``"alphas_cumprod"``: schedulers with a ``sigmas`` table (DPM-Solver, UniPC, Euler, DEIS,
        Heun, ...), whose ``add_noise`` looks the timestep up in the *inference* schedule: we
        compute ``sqrt(a_t) z0 + sqrt(1 - a_t) eps`` with ``a_t = alphas_cumprod[t]`` ourselves.
        ``"flow"``: flow-matching schedulers (``FlowMatch*``, or ``use_flow_sigmas`` /
        ``prediction_type="flow_prediction"``): ``(1 - s) z0 + s eps``.

    Raises:
        UnsupportedSchedulerError: naming the scheduler class, for anything else (e.g. EDM or
            SDE-VE schedulers, which have no ``alphas_cumprod``).
    """
    name = type(scheduler).__name__
    config = getattr(scheduler, "config", None)
    if config is None or not hasattr(config, "get"):
        raise UnsupportedSchedulerError(
            f"scheduler {name} is not a diffusers scheduler (no config)"
        )
    if (
        "FlowMatch" in name
        or bool(config.get("use_flow_sigmas", False))
        or config.get("prediction_type") == "flow_prediction"
    ):
        return "flow"
    if getattr(scheduler, "alphas_cumprod", None) is None or "num_train_timesteps" not in config:
        raise UnsupportedSchedulerError(
            f"scheduler {name} has no alphas_cumprod: no rule to noise a clean latent to a timestep"
        )
    if hasattr(scheduler, "sigmas"):
        return "alphas_cumprod"
    if not callable(getattr(scheduler, "add_noise", None)):
        raise UnsupportedSchedulerError(f"scheduler {name} has no add_noise")
    return "add_noise"


def check_flow_sigma(flow_sigma: object) -> float:
    """``flow_sigma`` as a float in (0, 1): a flow-matching noise level that keeps some signal."""
    if isinstance(flow_sigma, bool) or not isinstance(flow_sigma, (int, float)):
        raise ValueError(f"flow_sigma must be a number in (0, 1), got {flow_sigma!r}")
    if not 0.0 < float(flow_sigma) < 1.0:
        raise ValueError(f"flow_sigma must be in (0, 1), got {flow_sigma}")
    return float(flow_sigma)


def check_renoise_timestep(renoise: object) -> int | str:
    """``renoise_timestep`` as given: ``"auto"``, ``"last"`` or an int training timestep >= 0
    (its upper bound depends on the scheduler: :func:`resolve_renoise_timestep` checks it)."""
    if isinstance(renoise, str):
        if renoise not in RENOISE_RULES:
            raise ValueError(
                f"renoise_timestep must be auto, last or an int timestep, got {renoise!r}"
            )
        return renoise
    if isinstance(renoise, bool) or not isinstance(renoise, (int, np.integer)) or renoise < 0:
        raise ValueError(f"renoise_timestep must be auto, last or an int timestep, got {renoise!r}")
    return int(renoise)


def _ddpm_snr_db(scheduler: Any) -> np.ndarray:
    """``10 log10(signal / noise)`` by training timestep, float64 ``(T,)``: the SNR of the
    latent the ``add_noise`` / ``alphas_cumprod`` rules produce (VideoCrafter2's data scale
    included, as :func:`schedule_from_scheduler`); -inf where alpha_bar is 0."""
    alphas = scheduler.alphas_cumprod.detach().to(torch.float64).cpu().numpy()
    scales = getattr(scheduler, "data_scales", None)
    scale2 = 1.0 if scales is None else torch.as_tensor(scales).double().numpy() ** 2
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(alphas * scale2 / (1.0 - alphas))


def last_timestep_snr_db(scheduler: Any) -> float:
    """The SNR (dB) of the last training timestep of ``scheduler``: -inf for a zero-terminal-SNR
    DDIM/DDPM schedule and for flow matching (sigma = 1 there), -28.0 for AnimateDiff's."""
    if noising_rule(scheduler) == "flow":
        return float("-inf")
    return float(_ddpm_snr_db(scheduler)[-1])


def resolve_renoise_timestep(
    scheduler: Any, rule: int | str = "auto", target_snr_db: float = REFERENCE_SNR_DB
) -> int:
    """The training timestep that FreeInit and FreqPrior re-noise to under ``scheduler``.

    Args:
        scheduler: a diffusers scheduler (see :func:`noising_rule`).
        rule: ``"auto"``: the last training timestep, unless its SNR is below
            :data:`ZERO_SNR_DB` (a zero-terminal-SNR schedule, where it is pure noise); then the
            timestep whose SNR (dB) is nearest ``target_snr_db`` (ties: the noisier one).
            ``"last"``: always the last training timestep (the methods as written).
            An int: that training timestep.
        target_snr_db: the SNR "auto" matches; default the reference's t = 999 on AnimateDiff.

    Returns:
        A timestep in ``[0, num_train_timesteps - 1]``. For flow-matching schedulers the last one
        (``flow_sigma`` sets their re-noised level; ``rule`` does not apply).
    """
    rule = check_renoise_timestep(rule)
    flow = noising_rule(scheduler) == "flow"
    last = _num_train_timesteps(scheduler) - 1
    if isinstance(rule, int):
        if rule > last:
            raise ValueError(f"renoise_timestep must be in [0, {last}], got {rule}")
        return last if flow else rule
    if flow or rule == "last":
        return last
    snr = _ddpm_snr_db(scheduler)
    if snr[-1] >= ZERO_SNR_DB:
        return last
    # Nearest in dB; the reversed argmin makes a tie go to the later (noisier) timestep.
    distance = np.abs(snr - float(target_snr_db))[::-1]
    return last - int(np.argmin(distance))


def flow_noise_level(scheduler: Any, sigma: float) -> float:
    """A flow-matching scheduler's ``sigma`` (an entry of ``scheduler.sigmas``) as a noise level
    in freqlab's convention, the ``s`` of ``(1 - s) z0 + s eps``: ``sigma`` itself, except with
    ``invert_sigmas`` (Mochi), whose sigmas and timesteps run 0 -> 1 as the noise goes 1 -> 0
    (its model's t = 0 is noise), so the level is ``1 - sigma``. The one home of that rule."""
    if scheduler.config.get("invert_sigmas"):
        return 1.0 - float(sigma)
    return float(sigma)


def flow_snr_db(sigma: float | np.ndarray) -> float | np.ndarray:
    """The SNR (dB) of a flow-matching latent ``(1 - s) z0 + s eps``: ``10 log10((1 - s)^2 / s^2)``;
    -inf at ``s = 1``. 0.96 gives -27.6 dB, AnimateDiff's t = 999 level within 0.5 dB."""
    s = np.asarray(sigma, dtype=np.float64)
    with np.errstate(divide="ignore"):
        snr = 20.0 * np.log10(np.abs(1.0 - s) / s)
    return float(snr) if snr.ndim == 0 else snr


def training_snr_db(scheduler: Any) -> np.ndarray:
    """The SNR (dB) of the latent :func:`diffuse` produces at each training timestep, float64
    ``(T,)``: from ``alphas_cumprod`` (and VideoCrafter2's data scale) for DDPM-type schedulers,
    from the shifted training sigmas (:func:`shifted_sigmas`) for flow matching; -inf where no
    signal is left (a zero-terminal-SNR schedule's, and flow matching's, last timestep)."""
    if noising_rule(scheduler) == "flow":
        shift = config_flow_shift(scheduler.config)
        return np.asarray(flow_snr_db(shifted_sigmas(_num_train_timesteps(scheduler), shift)))
    return _ddpm_snr_db(scheduler)


def renoise_snr_db(scheduler: Any, rule: int | str = "auto", flow_sigma: float = 0.96) -> float:
    """The SNR (dB) of the latent FreeInit's re-noising (:func:`diffuse_to_last_timestep` with
    ``rule`` and ``flow_sigma``) produces: the SNR of the timestep
    :func:`resolve_renoise_timestep` picks, or :func:`flow_snr_db` of ``flow_sigma`` for
    flow-matching schedulers. -28.0 dB on AnimateDiff; about -28 dB under ``"auto"`` on a
    zero-terminal-SNR schedule."""
    check_flow_sigma(flow_sigma)
    timestep = resolve_renoise_timestep(scheduler, rule)
    if noising_rule(scheduler) == "flow":
        return float(flow_snr_db(flow_sigma))
    return float(_ddpm_snr_db(scheduler)[timestep])


def config_flow_shift(config: Any) -> float:
    """The sigma shift of a flow-matching scheduler's config (``shift`` or ``flow_shift``; 1)."""
    for key in ("shift", "flow_shift"):
        value = config.get(key)
        if value is not None:
            return float(value)
    return 1.0


def shifted_sigmas(num_train_timesteps: int, shift: float) -> np.ndarray:
    """FlowMatchEulerDiscreteScheduler's training sigmas by timestep, float64 ``(T,)``:
    ``u = (t + 1) / T`` shifted as ``shift·u / (1 + (shift - 1)·u)``; sigma = 1 at the last
    timestep."""
    u = np.arange(1, num_train_timesteps + 1, dtype=np.float64) / num_train_timesteps
    return shift * u / (1.0 + (shift - 1.0) * u)


def _num_train_timesteps(scheduler: Any) -> int:
    return int(scheduler.config.get("num_train_timesteps", 1000))


def diffuse(
    scheduler: Any,
    z0: torch.Tensor,
    noise: torch.Tensor,
    timestep: int,
    *,
    flow_sigma: float | None = None,
) -> torch.Tensor:
    """Noise the clean latent ``z0`` with ``noise`` to the training timestep ``timestep``.

    * ``add_noise`` rule: ``scheduler.add_noise(z0, noise, t)`` (VideoCrafter2's data scale
      included).
    * ``alphas_cumprod`` rule: ``sqrt(a_t) z0 + sqrt(1 - a_t) noise`` with
      ``a_t = alphas_cumprod[t]`` (unit-variance units; a pipeline applies ``init_noise_sigma``
      itself).
    * ``flow`` rule: ``(1 - s) z0 + s noise`` with ``s`` the shifted training sigma of ``t``
      (:func:`shifted_sigmas` with the config's shift), or ``flow_sigma`` when given.

    Args:
        scheduler: a diffusers scheduler (see :func:`noising_rule`).
        z0: clean latents, e.g. ``(B, C, T, h, w)``.
        noise: unit-variance noise of the same shape.
        timestep: a training timestep in ``[0, num_train_timesteps - 1]``.
        flow_sigma: the noise level for flow-matching schedulers instead of ``t``'s, in (0, 1);
            ignored by the other rules.

    Returns:
        The noisy latents, shape of ``z0``, in ``z0``'s dtype (``add_noise`` may promote).
    """
    if flow_sigma is not None:
        check_flow_sigma(flow_sigma)
    if noise.shape != z0.shape:
        raise ValueError(
            f"noise must have the shape of z0 {tuple(z0.shape)}, got {tuple(noise.shape)}"
        )
    rule = noising_rule(scheduler)
    num_train = _num_train_timesteps(scheduler)
    t = check_int("timestep", timestep, 0)
    if t >= num_train:
        raise ValueError(f"timestep must be in [0, {num_train - 1}], got {timestep!r}")
    if rule == "flow":
        if flow_sigma is None:
            flow_sigma = float(shifted_sigmas(num_train, config_flow_shift(scheduler.config))[t])
        return (1.0 - flow_sigma) * z0 + flow_sigma * noise
    if rule == "add_noise":
        timesteps = torch.full((z0.shape[0],), t, dtype=torch.long, device=z0.device)
        return scheduler.add_noise(original_samples=z0, noise=noise, timesteps=timesteps)
    alpha = scheduler.alphas_cumprod[t].to(device=z0.device, dtype=z0.dtype)
    return alpha.sqrt() * z0 + (1 - alpha).sqrt() * noise


def diffuse_to_last_timestep(
    scheduler: Any,
    z0: torch.Tensor,
    noise: torch.Tensor,
    flow_sigma: float = 0.96,
    renoise_timestep: int | str = "auto",
) -> torch.Tensor:
    """:func:`diffuse` to the last training timestep: FreeInit's re-noising of ``z0``.

    For flow-matching schedulers the last training level is sigma = 1, which would erase ``z0``
    entirely, so ``flow_sigma`` < 1 is used instead; the default 0.96 gives the signal-to-noise
    ratio of the reference's t = 999 on AnimateDiff's schedule (``(1 - s) / s = sqrt(a / (1 - a))``
    for a = 0.00158 gives s = 0.962, about -28 dB). On a zero-terminal-SNR schedule the last
    timestep is pure noise too: ``renoise_timestep="auto"`` then goes to the timestep of that
    same SNR (:func:`resolve_renoise_timestep`; e.g. 881 for AnimateDiff's betas rescaled to
    zero terminal SNR), and leaves every other schedule at the last timestep, bit for bit.

    Args:
        scheduler: a diffusers scheduler (see :func:`noising_rule`).
        z0: clean latents, e.g. ``(B, C, T, h, w)``.
        noise: the initial noise, same shape (unit variance).
        flow_sigma: the noise level for flow-matching schedulers, in (0, 1).
        renoise_timestep: the rule of :func:`resolve_renoise_timestep` (``"auto"``, ``"last"``
            or a timestep); ignored by flow-matching schedulers.

    Returns:
        The noisy latents, shape of ``z0``, in ``z0``'s dtype (``add_noise`` may promote).
    """
    check_flow_sigma(flow_sigma)  # required here, optional in diffuse
    t = resolve_renoise_timestep(scheduler, renoise_timestep)  # unsupported schedulers fail here
    return diffuse(scheduler, z0, noise, t, flow_sigma=flow_sigma)


# --------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class NoiseSchedule:
    """A forward process ``z_t = sqrt(signal_t) z0 + sqrt(noise_t) eps`` over training timesteps.

    DDPM-type (``kind="ddpm"``): ``signal = alphas_cumprod * s_t^2`` (``s_t`` a data scale,
    VideoCrafter2's; 1 elsewhere), ``noise = 1 - alphas_cumprod``. Flow matching
    (``kind="flow"``): ``z_t = (1 - sigma_t) z0 + sigma_t eps``, so ``signal = (1 - sigma)^2``,
    ``noise = sigma^2``, with ``sigma_t`` the shifted training sigma of timestep ``t``.

    Attributes:
        name: ``model``, ``zero_snr``, ``linear``, ``scaled_linear`` or ``flow``.
        kind: ``ddpm`` or ``flow``.
        signal, noise: ``(num_train_timesteps,)`` float64 weights by training timestep.
        first_timestep: the first timestep of sampling with ``num_inference_steps`` steps (for
            flow schedulers ``sigma * num_train_timesteps``, possibly fractional).
        first_signal, first_noise: the weights at that step (flow: from the scheduler's sigma).
        num_inference_steps: the steps ``first_timestep`` is for.
        description: the scheduler and its settings, for tables and legends.
    """

    name: str
    kind: str
    signal: np.ndarray
    noise: np.ndarray
    first_timestep: float
    first_signal: float
    first_noise: float
    num_inference_steps: int
    description: str

    @property
    def num_train_timesteps(self) -> int:
        return len(self.signal)

    def global_snr_db(self, timesteps: Sequence[int] | np.ndarray) -> np.ndarray:
        """``10 log10(signal_t / noise_t)`` at ``timesteps``."""
        idx = np.asarray(timesteps, dtype=np.int64)
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(self.signal[idx] / self.noise[idx])


def _is_flow(scheduler: Any) -> bool:
    return noising_rule(scheduler) == "flow"


def _fresh(scheduler: Any, **overrides: Any) -> Any:
    """A new scheduler of the same class from its config (plus ``overrides``); never mutates."""
    # Overrides as keyword arguments: a config key listed in `_use_default_values` would
    # otherwise be reset to the class default.
    return type(scheduler).from_config(scheduler.config, **overrides)


def schedule_from_scheduler(
    scheduler: Any, name: str = "model", num_inference_steps: int = 25, description: str = ""
) -> NoiseSchedule:
    """The :class:`NoiseSchedule` of a diffusers scheduler (which is not modified).

    DDPM-type schedulers give their ``alphas_cumprod`` (times VideoCrafter2's ``data_scales``
    squared where present). Flow-matching schedulers (``FlowMatch*``, ``use_flow_sigmas``,
    ``flow_prediction``, as :func:`noising_rule`) give the shifted training sigmas (``shift`` or
    ``flow_shift`` of the config; resolution-dependent dynamic shifting is not modelled). The
    first sampling step comes from ``set_timesteps(num_inference_steps)`` on a copy: e.g. 999
    for AnimateDiff's linspace spacing, 981 for ModelScope's leading spacing; with
    ``invert_sigmas`` (Mochi) its sigma is read back as a noise level (``1 - sigma``).
    """
    check_int("num_inference_steps", num_inference_steps)
    config = scheduler.config
    num_train = _num_train_timesteps(scheduler)
    sampler = _fresh(scheduler)
    if _is_flow(scheduler):
        kind = "flow"
        sigma = shifted_sigmas(num_train, config_flow_shift(config))
        signal, noise = (1.0 - sigma) ** 2, sigma**2
        try:
            sampler.set_timesteps(num_inference_steps)
            sigma0 = flow_noise_level(sampler, float(sampler.sigmas[0]))
            t0 = float(sampler.timesteps[0])
            if config.get("invert_sigmas"):
                # Mochi's timesteps count backwards too: the noise level's own timestep.
                t0 = sigma0 * num_train
        except (TypeError, ValueError):  # e.g. dynamic shifting needs mu: use the training table
            sigma0, t0 = float(sigma[-1]), float(num_train - 1)
        first_signal, first_noise = (1.0 - sigma0) ** 2, sigma0**2
    else:
        kind = "ddpm"
        alphas = scheduler.alphas_cumprod.detach().to(torch.float64).cpu().numpy()
        scales = getattr(scheduler, "data_scales", None)
        scale2 = 1.0 if scales is None else torch.as_tensor(scales).double().numpy() ** 2
        signal, noise = alphas * scale2, 1.0 - alphas
        sampler.set_timesteps(num_inference_steps)
        t0 = float(sampler.timesteps[0])
        first_signal, first_noise = float(signal[int(t0)]), float(noise[int(t0)])
    return NoiseSchedule(
        name=name,
        kind=kind,
        signal=np.asarray(signal, dtype=np.float64),
        noise=np.asarray(noise, dtype=np.float64),
        first_timestep=t0,
        first_signal=first_signal,
        first_noise=first_noise,
        num_inference_steps=num_inference_steps,
        description=description or _describe(scheduler),
    )


def _describe(scheduler: Any) -> str:
    config = scheduler.config
    parts = [type(scheduler).__name__]
    if _is_flow(scheduler):
        parts.append(f"flow sigmas, shift {config_flow_shift(config):g}")
    else:
        betas = f"{config.get('beta_schedule')} betas {config.get('beta_start')}-{config.get('beta_end')}"
        parts.append(betas)
        if config.get("rescale_betas_zero_snr"):
            parts.append("zero terminal SNR")
    if config.get("timestep_spacing"):
        parts.append(f"{config.get('timestep_spacing')} spacing")
    return ", ".join(parts)


def compare_schedules(
    scheduler: Any,
    names: Sequence[str] = SCHEDULE_NAMES,
    num_inference_steps: int = 25,
    flow_shift: float | None = None,
) -> tuple[list[NoiseSchedule], dict[str, str]]:
    """The schedules to compare for a model whose scheduler is ``scheduler``.

    * ``model``: the scheduler as configured.
    * ``zero_snr``: the same config with ``rescale_betas_zero_snr=True`` (Lin et al. 2023):
      ``alphas_cumprod[-1] = 0``, so no signal at the last timestep. Not applicable to flow models
      (their path already ends at sigma = 1) or to classes without that option.
    * ``linear`` / ``scaled_linear``: the same config with that ``beta_schedule``, without a
      zero-terminal-SNR rescale or SNR shift of the model's own (flow models: a DDIMScheduler with
      SD's betas 0.00085 -> 0.012).
    * ``flow``: FlowMatchEulerDiscreteScheduler's sigma path with ``flow_shift`` (default: the
      model's own shift for flow models, else 1, plain rectified flow).

    Returns:
        The schedules in the order of ``names``, and ``{name: reason}`` for those not applicable.
    """
    from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler

    unknown = [n for n in names if n not in SCHEDULE_NAMES]
    if unknown or not names:
        raise ValueError(f"schedules must be a non-empty list of {SCHEDULE_NAMES}, got {names!r}")
    flow_model = _is_flow(scheduler)
    config = dict(scheduler.config)
    num_train = int(config.get("num_train_timesteps", 1000))
    schedules, skipped = [], {}
    for name in dict.fromkeys(names):  # unique, in order
        if name == "model":
            schedules.append(schedule_from_scheduler(scheduler, "model", num_inference_steps))
        elif name == "zero_snr":
            if flow_model:
                skipped[name] = "a flow-matching path already ends at sigma = 1 (zero SNR)"
                continue
            variant = _fresh(scheduler, rescale_betas_zero_snr=True)
            if not variant.config.get("rescale_betas_zero_snr"):
                skipped[name] = f"{type(scheduler).__name__} has no rescale_betas_zero_snr option"
                continue
            schedules.append(schedule_from_scheduler(variant, name, num_inference_steps))
        elif name in ("linear", "scaled_linear"):
            if flow_model:
                variant = DDIMScheduler(
                    num_train_timesteps=num_train,
                    beta_start=SD_BETAS[0],
                    beta_end=SD_BETAS[1],
                    beta_schedule=name,
                    clip_sample=False,
                    set_alpha_to_one=False,
                    steps_offset=1,
                    timestep_spacing="linspace",
                )
            else:
                # The standard schedule of that name: without the model's own zero-terminal-SNR
                # rescale or SNR shift (CogVideoX has both), which "zero_snr" and "model" show.
                drop = {"trained_betas": None} if "trained_betas" in config else {}
                if config.get("rescale_betas_zero_snr"):
                    drop["rescale_betas_zero_snr"] = False
                if config.get("snr_shift_scale", 1.0) != 1.0:
                    drop["snr_shift_scale"] = 1.0
                variant = _fresh(scheduler, beta_schedule=name, **drop)
            schedules.append(schedule_from_scheduler(variant, name, num_inference_steps))
        else:  # flow
            shift = (
                flow_shift
                if flow_shift is not None
                else (config_flow_shift(config) if flow_model else 1.0)
            )
            if not shift > 0:
                raise ValueError(f"flow_shift must be > 0, got {shift!r}")
            variant = FlowMatchEulerDiscreteScheduler(num_train_timesteps=num_train, shift=shift)
            schedules.append(schedule_from_scheduler(variant, name, num_inference_steps))
    return schedules, skipped
