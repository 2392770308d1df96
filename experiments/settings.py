"""Turn a composed Hydra config into validated, fully resolved job settings.

Every check names the config key it is about, so a typo or an out-of-range value fails at start-up
with one clear message instead of deep inside a sampling loop. The rules:

* sizes: ``model.num_frames >= 2`` (the temporal metrics compare consecutive frames), and the
  model's own rules (:meth:`freqlab.models.ModelSpec.check_sizes`: multiples of 8, 16 for Wan;
  4k + 1 frames for Wan; at most 32 frames for AnimateDiff v2 / SDXL and the tiny models, 24 for
  AnimateDiff v1, unless ``model.adapter`` names another motion module);
* ``model.guidance_scale >= 0``: diffusers guides only when it is > 1, so 0 and 1 both sample the
  conditional model alone (no guidance); FreeU factors ``>= 0`` (see :class:`freqlab.FreeU`);
* model-level methods: FreeU, FreeNoise's window fusion, ByTheWay and FreeLong need a UNet and
  are refused first on a diffusion-transformer model (Wan, CogVideoX), naming the key, the model
  and the method; FreeNoise's noise rescheduling alone (``freenoise.windows=false``) serves
  every model, its ``context_length`` at most the latent frames;
* ``fps >= 1``, ``threads`` null or ``>= 1``; booleans must be true or false (not ``maybe``);
* ``dtype``: ``auto`` resolves to what the model really runs in (the model's half precision on
  CUDA, float32 on the CPU and for models built in code), stored resolved in
  :attr:`JobSettings.dtype` and the identity; float16 / bfloat16 on the CPU are refused.

Paths, unread keys and weights files are checked by :mod:`experiments.preflight`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import DictConfig, MissingMandatoryValue, OmegaConf

from freqlab.checks import check_number
from freqlab.freeinit import FreeInit
from freqlab.freenoise import FreeNoise
from freqlab.freeu import FreeU
from freqlab.models import MODELS, ModelSpec, get_model_spec
from freqlab.models.pretrained import build_scheduler, parse_dtype, resolve_device
from freqlab.models.registry import weights_fingerprint

if TYPE_CHECKING:  # imported where used: FreqPrior is off by default
    from freqlab.freqprior import FreqPrior

SAMPLING_KEYS = ("num_frames", "height", "width", "num_inference_steps", "guidance_scale")
# What a job samples in (float64 is the library's, for tests and references only).
JOB_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
# The temporal metrics (consistency, flicker, motion) compare consecutive frames.
MIN_FRAMES = 2
CPU_OFFLOAD = ("model", "sequential")
# Model families whose UNet has temporal attention (FreeNoise windows it). Every UNet family of
# the registry has it; the others (wan, cogvideox) are diffusion transformers, with no UNet.
TEMPORAL_ATTENTION_FAMILIES = ("animatediff", "modelscope", "videocrafter")
UNET_FAMILIES = TEMPORAL_ATTENTION_FAMILIES


class ConfigError(ValueError):
    """A config value is missing, misspelt or out of range; the message names the key."""


@dataclass
class JobSettings:
    """Everything a generation job needs, with every default resolved."""

    model: str
    load_kwargs: dict[str, Any]
    call_kwargs: dict[str, Any]  # pipeline sampling arguments (frames, size, steps, guidance, ...)
    decode_chunk: int
    freeinit: dict[str, Any]  # FreeInit constructor arguments (num_iters 1 when off)
    freeu: dict[str, Any] | None  # FreeU constructor arguments, or None when off
    seeds: list[int]
    batch_size: int
    device: str
    dtype: str  # resolved: float32, float16 or bfloat16, never "auto"
    identity: dict[str, Any] = field(default_factory=dict)  # what determines a sample's result
    freqprior: dict[str, Any] | None = None  # FreqPrior constructor arguments, or None when off
    freenoise: dict[str, Any] | None = None  # FreeNoise constructor arguments, or None when off
    bytheway: dict[str, Any] | None = None  # ByTheWay constructor arguments, or None when off
    freelong: dict[str, Any] | None = None  # FreeLong constructor arguments, or None when off

    @property
    def sampler(self) -> str:
        """The sampling loop: ``"freqprior"`` when FreqPrior is on, else ``"freeinit"`` (one
        plain pass when FreeInit is off)."""
        return "freqprior" if self.freqprior is not None else "freeinit"

    @property
    def sampler_config(self) -> dict[str, Any]:
        """The constructor arguments of :attr:`sampler`."""
        return self.freqprior if self.freqprior is not None else self.freeinit

    def make_sampler(self) -> FreeInit | FreqPrior:
        """The job's sampling loop, built from :attr:`sampler_config`."""
        if self.freqprior is not None:
            from freqlab.freqprior import FreqPrior

            return FreqPrior(**self.freqprior)
        return FreeInit(**self.freeinit)

    def unet_steps(self) -> list[int]:
        """UNet steps per video of a run that ends at pass k, for every pass: FreeInit's steps
        summed through pass k; FreqPrior's k x (steps before ``mid_step``) + all steps (what
        the library's default, which stops earlier passes at ``mid_step``, spends)."""
        sampler = self.make_sampler()
        steps_per_pass = sampler.steps(self.call_kwargs["num_inference_steps"])
        if self.freqprior is None:
            return [sum(steps_per_pass[: k + 1]) for k in range(len(steps_per_pass))]
        total = self.call_kwargs["num_inference_steps"]
        # The library's own stop (mid_step's index; on flow-matching models mid_sigma's step,
        # on the schedule the model's pipeline sets).
        spec = get_model_spec(self.model)
        scheduler = build_scheduler(spec.scheduler)
        before = sampler.mid_index(
            scheduler, total, *freqprior_schedule_args(spec, self.call_kwargs)
        )
        return [k * before + total for k in range(len(steps_per_pass))]


def config_value(cfg: DictConfig, key: str) -> Any:
    """``cfg[key]`` (dotted); a ConfigError naming the key if it is required but unset (???)."""
    try:
        return OmegaConf.select(cfg, key, throw_on_missing=True)
    except MissingMandatoryValue:
        raise ConfigError(f"{key} is required: set it on the command line ({key}=...)") from None


def int_value(cfg: DictConfig, key: str, minimum: int, allow_none: bool = False) -> int | None:
    """``cfg[key]`` as an integer >= ``minimum`` (or None if allowed); a ConfigError otherwise."""
    value = config_value(cfg, key)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def bool_value(cfg: DictConfig, key: str) -> bool:
    """``cfg[key]`` as a boolean; a ConfigError naming the key otherwise."""
    value = config_value(cfg, key)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    return value


def _keyed(group: str, names: Any, err: ValueError) -> ConfigError:
    """A library ValueError (``"order must be a number >= 1, got 0"``) as a ConfigError whose
    message leads with the config key (``"freeinit.order must be ..."``); a message about no
    single argument is prefixed with the group (``"freeinit: ..."``)."""
    message = str(err)
    name = message.split(" ", 1)[0]
    if name in names:
        return ConfigError(f"{group}.{message}")
    return ConfigError(f"{group}: {message}")


def _freeinit(cfg: DictConfig) -> dict[str, Any]:
    """FreeInit's constructor arguments from ``freeinit.*``, validated by :class:`FreeInit`
    itself (the one place that checks them); ``num_iters`` is 1 when FreeInit is disabled."""
    enabled = bool_value(cfg, "freeinit.enabled")
    try:  # d0 is the config's shorthand for d_s and d_t (conf/freeinit/default.yaml)
        check_number("freeinit.d0", config_value(cfg, "freeinit.d0"), 0, 1)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    args = {
        key: config_value(cfg, f"freeinit.{key}")
        for key in ("num_iters", "method", "d_s", "d_t", "order")
        + ("fast_sampling", "variance_preserving", "rng", "flow_sigma", "renoise_timestep")
    }
    if not enabled:
        args["num_iters"] = 1
    from freqlab.schedules import resolve_renoise_timestep

    try:
        built = FreeInit(**args)
        # A timestep past the model's schedule is refused now, not at the first refinement.
        resolve_renoise_timestep(
            build_scheduler(get_model_spec(cfg.model.name).scheduler), built.renoise_timestep
        )
    except ValueError as err:
        raise _keyed("freeinit", args, err) from None
    return {key: built.config[key] for key in args}


def _freeu(cfg: DictConfig, recommended: dict[str, Any]) -> dict[str, Any] | None:
    """FreeU's constructor arguments: ``freeu.*`` over the model's recommended factors,
    validated by :class:`FreeU` itself; None when FreeU is off."""
    if not bool_value(cfg, "freeu.enabled"):
        return None
    name = cfg.model.name
    if not recommended and any(
        config_value(cfg, f"freeu.{k}") is None for k in ("b1", "b2", "s1", "s2")
    ):
        raise ConfigError(
            f"freeu: model {name} has no recommended FreeU factors (FreeU needs a UNet); "
            "use freeu=off, or set freeu.b1/b2/s1/s2 for a UNet model"
        )
    args = {}
    for key in ("b1", "b2", "s1", "s2", "variant", "stages"):
        value = config_value(cfg, f"freeu.{key}")
        args[key] = recommended.get(key) if value is None else value
    try:
        return dataclasses.asdict(FreeU(**args))
    except ValueError as err:
        raise _keyed("freeu", args, err) from None


# The official FreqPrior mid_step: timestep 321 of a 25-step DDIM "leading" schedule (16 steps
# before it), also at index 33 of 50 such steps.
FREQPRIOR_MID_STEP = 321


def schedule_timesteps(spec: ModelSpec, num_inference_steps: int) -> list[int]:
    """The timesteps the model's scheduler runs at ``num_inference_steps``, rounded to ints
    (flow-matching schedulers' timesteps are sigma x 1000)."""
    scheduler = build_scheduler(spec.scheduler)
    scheduler.set_timesteps(num_inference_steps)
    return [int(round(float(t))) for t in scheduler.timesteps]


def freqprior_schedule_args(spec: ModelSpec, call: dict[str, Any]) -> tuple[str, tuple[int, ...]]:
    """``(pipeline, latent_size)`` for :meth:`freqlab.FreqPrior.mid_index` and
    :func:`freqlab.pipeline_schedules.inference_schedule`, before any model loads: LTX-Video,
    Mochi and HunyuanVideo 1.5 pass their own sigmas to their schedulers, so FreqPrior's stop is located
    on the schedule their pipeline sets. The pipeline class is the spec's, or for a tiny model
    that of the registry's real model of its family (the same pipeline class). The latent grid
    ``(T, h, w)`` (LTX-Video's shift counts its tokens): ``num_frames`` over the VAE's temporal
    factor, ``height`` and ``width`` over ``size_multiple`` (LTX-Video's VAE factor: its patch
    is 1; only LTXPipeline reads it)."""
    pipeline = spec.pipeline or next(
        (s.pipeline for s in MODELS.values() if s.family == spec.family and s.pipeline), ""
    )
    grid = (
        (call["num_frames"] - 1) // spec.temporal_factor + 1,
        call["height"] // spec.size_multiple,
        call["width"] // spec.size_multiple,
    )
    return pipeline, grid


def _mid_step(value: Any, timesteps: list[int]) -> int:
    """``freqprior.mid_step``: ``auto`` is the timestep nearest the official 321 after the first
    (ties: the earlier, noisier one); an int must be one of the schedule's timesteps after the
    first (FreqPrior re-noises from there and restarts at the first)."""
    later = timesteps[1:]
    if not later:
        raise ConfigError("freqprior: needs model.num_inference_steps >= 2 (it stops mid-way)")
    if value == "auto":
        return min(later, key=lambda t: abs(t - FREQPRIOR_MID_STEP))
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"freqprior.mid_step must be auto or an int timestep, got {value!r}")
    if value not in later:
        near = sorted(later, key=lambda t: abs(t - value))[:3]
        raise ConfigError(
            f"freqprior.mid_step must be one of the schedule's timesteps after the first "
            f"({timesteps[0]}) at model.num_inference_steps={len(timesteps)}, got {value}; "
            f"nearest: {', '.join(map(str, sorted(near, reverse=True)))} (or mid_step=auto)"
        )
    return value


def _freqprior(cfg: DictConfig, spec: ModelSpec, call: dict[str, Any]) -> dict[str, Any] | None:
    """FreqPrior's constructor arguments from ``freqprior.*`` (None when off), validated by
    :class:`FreqPrior` itself; ``mid_step`` resolved against the model's schedule before any
    model loads. FreeInit and FreqPrior are both sampling loops: both on is refused.

    Flow-matching models stop at ``freqprior.mid_sigma`` (a noise level: their timesteps are
    sigma x 1000 after a shift), so their ``mid_step`` must be ``auto`` and records the timestep
    of the step that mid_sigma picks. DDPM-type models get no ``mid_sigma`` entry (it is still
    validated): it means nothing there, and their samples' keys stay as before it existed."""
    if not bool_value(cfg, "freqprior.enabled"):
        return None
    if bool_value(cfg, "freeinit.enabled"):
        raise ConfigError(
            "freeinit.enabled and freqprior.enabled are both true: FreeInit and FreqPrior are "
            "both sampling loops, a job runs one (freqprior=default alone turns FreeInit off)"
        )
    try:
        check_number("freqprior.d0", config_value(cfg, "freqprior.d0"), 0, 1)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    keys = ("num_iters", "ratio", "method", "d_s", "d_t", "order", "rng")
    keys += ("flow_sigma", "renoise_timestep", "mid_sigma")
    args = {key: config_value(cfg, f"freqprior.{key}") for key in keys}
    # The runner measures every pass: each runs to the end (z_mid is captured on the way).
    args["save_intermediate"] = True
    from freqlab.freqprior import FreqPrior
    from freqlab.pipeline_schedules import inference_schedule
    from freqlab.schedules import noising_rule, resolve_renoise_timestep

    num_inference_steps = call["num_inference_steps"]
    flow = noising_rule(build_scheduler(spec.scheduler)) == "flow"
    schedule_args = freqprior_schedule_args(spec, call)
    if flow:  # the timesteps the pipeline runs (LTX-Video, Mochi, HunyuanVideo 1.5 set their own)
        try:
            schedule = inference_schedule(
                build_scheduler(spec.scheduler), num_inference_steps, *schedule_args
            )
        except ValueError as err:
            raise ConfigError(f"freqprior: {err}") from None
        timesteps = [int(round(float(t))) for t in schedule.timesteps]
    else:
        timesteps = schedule_timesteps(spec, num_inference_steps)
    mid_step = config_value(cfg, "freqprior.mid_step")
    if flow and mid_step != "auto":
        raise ConfigError(
            f"freqprior.mid_step must be auto for the flow-matching model {spec.name}, got "
            f"{mid_step!r}: flow schedules stop at a noise level, freqprior.mid_sigma (timesteps "
            "are sigma x 1000 after the model's shift)"
        )
    # Flow: auto's timestep as a placeholder until mid_sigma's step is known (FreqPrior does not
    # read it there); _mid_step also refuses a schedule with no step after the first.
    args["mid_step"] = _mid_step("auto" if flow else mid_step, timesteps)
    try:
        built = FreqPrior(**args)
        resolve_renoise_timestep(build_scheduler(spec.scheduler), built.renoise_timestep)
        index = built.mid_index(
            build_scheduler(spec.scheduler), num_inference_steps, *schedule_args
        )
    except ValueError as err:
        raise _keyed("freqprior", args, err) from None
    out = {key: built.config[key] for key in args if flow or key != "mid_sigma"}
    if flow:
        out["mid_step"] = timesteps[index]
    return out


# The model-level methods that act on a UNet: config group -> (name in messages, what it needs).
# Each is refused, naming its key, the model and the method, for a model without one.
_UNET_METHODS = {
    "freeu": ("FreeU", "a UNet (its decoder's skip connections)"),
    "freenoise": ("FreeNoise's window fusion", "a UNet's temporal attention"),
    "bytheway": ("ByTheWay", "a UNet's temporal attention"),
    "freelong": ("FreeLong", "a UNet's temporal attention"),
}


def _check_windowable(spec: ModelSpec, method: str = "freenoise") -> None:
    """FreeU, FreeNoise's window fusion, ByTheWay and FreeLong act on a UNet (FreeU on its skip
    connections, the others on its temporal attention): refused, naming the config key, the
    model and the method, for a model that has none (a DiT attends over all frames at once)."""
    if spec.family in UNET_FAMILIES:
        return
    name, needs = _UNET_METHODS[method]
    key, instead = f"{method}.enabled", f"use {method}=off"
    if method == "freenoise":
        key = "freenoise.windows"
        instead = "set freenoise.windows=false for FreeNoise's noise rescheduling alone"
    raise ConfigError(
        f"{key}: {name} needs {needs}; model {spec.name} has no UNet (a diffusion "
        f"transformer, family {spec.family}); {instead} ({name} applies to "
        f"{', '.join(UNET_FAMILIES)} models)"
    )


def _check_model_methods(cfg: DictConfig) -> None:
    """Every model-level method that is on, against the model, before any other of its checks
    (a FreeU factor left null, a frame count, ...) could say something less to the point."""
    spec = get_model_spec(cfg.model.name)
    for method in _UNET_METHODS:
        if method not in cfg or not bool_value(cfg, f"{method}.enabled"):
            continue
        if method == "freenoise" and not bool_value(cfg, "freenoise.windows"):
            continue  # the noise rescheduling alone serves every model
        _check_windowable(spec, method)


# Model-level methods that cannot share a model: each pair is refused naming both keys.
_EXCLUSIVE = {
    ("freenoise", "freelong"): "FreeLong brings FreeNoise's noise (freelong.freenoise) and "
    "replaces its window fusion",
    ("bytheway", "freelong"): "both replace the temporal attention",
}


def _check_exclusive(cfg: DictConfig) -> None:
    for (a, b), why in _EXCLUSIVE.items():
        if (
            a in cfg
            and b in cfg
            and bool_value(cfg, f"{a}.enabled")
            and bool_value(cfg, f"{b}.enabled")
        ):
            raise ConfigError(f"{a}.enabled and {b}.enabled are both true: {why}; use one")


def _bytheway(cfg: DictConfig, spec: ModelSpec, num_frames: int) -> dict[str, Any] | None:
    """ByTheWay's constructor arguments: ``bytheway.*`` over the model's recommended settings
    (``null``), validated by :class:`ByTheWay` itself; None when off."""
    if not bool_value(cfg, "bytheway.enabled"):
        return None
    _check_windowable(spec, "bytheway")
    from freqlab.bytheway import ByTheWay

    if spec.bytheway is None:  # the registry's way of saying it does not apply
        raise ConfigError(
            f"bytheway.enabled: ByTheWay does not apply to model {spec.name} (it needs at least "
            "two decoder blocks with temporal attention: it guides them toward up_blocks.1)"
        )
    recommended = dict(spec.bytheway)
    if recommended.get("tau") is not None:
        # The recommendations are for 16 frames, where tau 7 is every bin but DC: at fewer
        # frames the same band is tau = F/2 - 1 (a set tau is checked, never changed).
        recommended["tau"] = min(recommended["tau"], max(num_frames // 2 - 1, 0))
    keys = ("tau", "alpha", "beta", "fraction", "clamp")
    args = {}
    for key in keys:
        value = config_value(cfg, f"bytheway.{key}")
        args[key] = recommended.get(key) if value is None else value
    unset = [k for k, v in args.items() if v is None]
    if unset:
        raise ConfigError(
            f"bytheway: model {spec.name} has no recommended {', '.join(unset)}; set "
            + ", ".join(f"bytheway.{k}" for k in unset)
        )
    try:
        built = ByTheWay(**args)
    except ValueError as err:
        raise _keyed("bytheway", args, err) from None
    if built.tau >= num_frames / 2:
        raise ConfigError(
            f"bytheway.tau must be < half the frames its attention sees ({num_frames / 2:g}: "
            f"model.num_frames, or freenoise.context_length with FreeNoise), got {built.tau}"
        )
    return {key: getattr(built, key) for key in keys}


def _freenoise_windows(cfg: DictConfig) -> bool:
    """Whether FreeNoise is on with its window fusion (not the noise rescheduling alone)."""
    return (
        "freenoise" in cfg
        and bool_value(cfg, "freenoise.enabled")
        and bool_value(cfg, "freenoise.windows")
    )


def _attention_frames(cfg: DictConfig, num_frames: int) -> int:
    """The frames a temporal attention sees: FreeNoise's window when its window fusion is on,
    else them all."""
    if _freenoise_windows(cfg):
        length = config_value(cfg, "freenoise.context_length")
        if isinstance(length, int) and not isinstance(length, bool):
            return min(length, num_frames)
    return num_frames


def _freelong(cfg: DictConfig, spec: ModelSpec) -> dict[str, Any] | None:
    """FreeLong's constructor arguments from ``freelong.*``, validated by :class:`FreeLong`
    itself; None when off."""
    if not bool_value(cfg, "freelong.enabled"):
        return None
    _check_windowable(spec, "freelong")
    try:  # d0 is the config's shorthand for d_s and d_t
        check_number("freelong.d0", config_value(cfg, "freelong.d0"), 0, 1)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    from freqlab.freelong import FreeLong

    keys = ("window", "method", "d_s", "d_t", "order", "skip_highest_resolution", "freenoise")
    keys += ("mask", "positions")
    args = {key: config_value(cfg, f"freelong.{key}") for key in keys}
    try:
        built = FreeLong(**args)
    except ValueError as err:
        raise _keyed("freelong", args, err) from None
    return {key: built.config[key] for key in keys}


def _freenoise(cfg: DictConfig, spec: ModelSpec, num_frames: int) -> dict[str, Any] | None:
    """FreeNoise's constructor arguments from ``freenoise.*`` (None when off), validated by
    :class:`FreeNoise` itself, and against the model (:func:`_check_windowable` first, for the
    window fusion): a window no longer than the latent frames or the motion module's positions.
    ``freenoise.windows=false`` (the noise rescheduling alone) serves every model; a DiT's
    ``context_length`` then counts latent frames (its VAE compresses time)."""
    if not bool_value(cfg, "freenoise.enabled"):
        return None
    keys = ("context_length", "context_stride", "weighting", "noise", "fix_tail", "windows")
    args = {key: config_value(cfg, f"freenoise.{key}") for key in keys}
    try:
        built = FreeNoise(**args)
    except ValueError as err:
        raise _keyed("freenoise", args, err) from None
    length = built.config["context_length"]
    latent_frames = (num_frames - 1) // spec.temporal_factor + 1
    if length > latent_frames and spec.temporal_factor == 1:
        raise ConfigError(
            f"freenoise.context_length must be <= model.num_frames ({num_frames}), got {length}"
        )
    if length > latent_frames:
        raise ConfigError(
            f"freenoise.context_length must be <= the latent frames of model {spec.name} "
            f"({latent_frames} at model.num_frames={num_frames}: its VAE compresses time "
            f"{spec.temporal_factor}x), got {length}; lower freenoise.context_length (and "
            "freenoise.context_stride) or raise model.num_frames"
        )
    if built.windows and spec.max_frames is not None and length > spec.max_frames:
        raise ConfigError(
            f"freenoise.context_length must be <= {spec.max_frames}, the positions of "
            f"{spec.name}'s motion module, got {length}"
        )
    return {key: built.config[key] for key in keys}


def _device(value: str) -> str:
    """``device`` parsed by :func:`freqlab.models.pretrained.resolve_device` (``auto``, CUDA
    availability); a job runs on the CPU or CUDA only."""
    try:
        device = resolve_device(value)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda[:N], got {value!r}")
    return str(device)


def _call_kwargs(
    cfg: DictConfig, spec: ModelSpec, own_adapter: bool, windowed: bool = False
) -> dict[str, Any]:
    """The pipeline's sampling arguments: the registry's defaults, overridden by ``model.*``,
    checked against the model's size rules (``spec.check_sizes``) before anything loads.
    ``windowed`` (FreeNoise, or FreeLong with ``freelong.positions``): the motion module sees
    windows (its frame limit binds ``freenoise.context_length``), or its positions are extended
    or interpolated, so ``model.num_frames`` may exceed it."""
    call = dict(spec.defaults)
    for key in (*SAMPLING_KEYS, "negative_prompt"):
        value = OmegaConf.select(cfg, f"model.{key}")
        if value is not None:
            call[key] = value
    for key in ("num_frames", "height", "width", "num_inference_steps"):
        minimum = MIN_FRAMES if key == "num_frames" else 1
        value = call.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            why = " (the temporal metrics compare consecutive frames)" if minimum > 1 else ""
            raise ConfigError(f"model.{key} must be an integer >= {minimum}{why}, got {value!r}")
    for key, required in spec.check_sizes(call["num_frames"], call["height"], call["width"]):
        if key == "num_frames" and "at most" in required and (own_adapter or windowed):
            # The limit is the registered adapter's (another one may have more positions), or
            # FreeNoise windows the frames (its context_length is checked against it).
            continue
        raise ConfigError(f"model.{key} must be {required}, got {call[key]}")
    # 0 <= guidance: diffusers applies classifier-free guidance only when guidance_scale > 1;
    # 0 and 1 both sample the conditional model alone. Negative values push away from the prompt.
    try:
        guidance = check_number("model.guidance_scale", call["guidance_scale"])
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if guidance < 0:
        raise ConfigError(
            f"model.guidance_scale must be >= 0 (values <= 1 turn classifier-free guidance off), "
            f"got {call['guidance_scale']!r}"
        )
    call["guidance_scale"] = guidance
    return call


def resolved_dtype(spec: ModelSpec, device: str, dtype: str) -> str:
    """The dtype a job's model runs in: ``dtype``, or for ``auto`` what :func:`load_model`
    picks (the model's half precision on CUDA, float32 on CPU; models built in code: float32).
    Half precision on the CPU is refused: most CPU kernels lack it (diffusers warns that running
    will fail) and the rest are slower than float32."""
    if dtype == "auto":
        on_gpu = torch.device(device).type == "cuda" and spec.pretrained
        return str(spec.accelerator_dtype).removeprefix("torch.") if on_gpu else "float32"
    try:
        parsed = parse_dtype(dtype)  # the library's names: float16, fp16, half, bf16, ...
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if parsed not in JOB_DTYPES:
        names = ", ".join(str(d).removeprefix("torch.") for d in JOB_DTYPES)
        raise ConfigError(f"dtype must be auto or one of {names}, got {dtype!r}")
    dtype = str(parsed).removeprefix("torch.")
    if dtype != "float32" and torch.device(device).type == "cpu":
        raise ConfigError(
            f"dtype={dtype} needs a CUDA device (device={device}): half precision is unsupported "
            "or slow on the CPU; use dtype=auto or float32, or device=cuda"
        )
    return dtype


def _load_kwargs(cfg: DictConfig, spec: ModelSpec, device: str, dtype: str) -> dict[str, Any]:
    """``load_model``'s arguments from ``model.*``."""
    load: dict[str, Any] = dict(device=device, dtype=None if dtype == "auto" else dtype)
    savers = [
        k for k in ("vae_slicing", "vae_tiling") if k in cfg.model and bool_value(cfg, f"model.{k}")
    ]
    if not spec.pretrained:
        load["seed"] = OmegaConf.select(cfg, "model.weights_seed", default=0)
        return load
    for key in ("path", "revision", "variant", *spec.sources):
        value = OmegaConf.select(cfg, f"model.{key}")
        if value is not None:
            load[key] = value
    load.update({key: True for key in savers})
    offload = OmegaConf.select(cfg, "model.cpu_offload")
    if offload is not None:
        if offload not in CPU_OFFLOAD:
            raise ConfigError(
                f"model.cpu_offload must be null, {' or '.join(CPU_OFFLOAD)}, got {offload!r}"
            )
        load["cpu_offload"] = offload
    return load


def _runtime(cfg: DictConfig) -> None:
    """Top-level values every job reads: ``fps`` and ``threads``."""
    if "fps" in cfg:
        int_value(cfg, "fps", 1)
    if "threads" in cfg:
        int_value(cfg, "threads", 1, allow_none=True)


def resolve(cfg: DictConfig) -> JobSettings:
    """Validate ``cfg`` and resolve every default (model registry, FreeU recommendations, dtype,
    the weights' fingerprint). Nothing is loaded."""
    name = config_value(cfg, "model.name")
    if name not in MODELS:
        raise ConfigError(f"model.name: unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    spec = get_model_spec(name)
    _runtime(cfg)
    own_adapter = OmegaConf.select(cfg, "model.adapter") is not None
    _check_model_methods(cfg)  # FreeU and the attention methods need a UNet
    _check_exclusive(cfg)
    windowed = _freenoise_windows(cfg)
    # FreeLong past the motion module's positions only with a position strategy (it refuses
    # more frames than positions without one, before any sampling).
    if "freelong" in cfg and bool_value(cfg, "freelong.enabled"):
        if config_value(cfg, "freelong.positions") is not None:
            windowed = True
    call = _call_kwargs(cfg, spec, own_adapter, windowed)
    decode_chunk = OmegaConf.select(cfg, "model.decode_chunk") or spec.decode_chunk
    if isinstance(decode_chunk, bool) or not isinstance(decode_chunk, int) or decode_chunk < 1:
        raise ConfigError(f"model.decode_chunk must be an integer >= 1, got {decode_chunk!r}")

    device = _device(str(config_value(cfg, "device")))
    requested = str(config_value(cfg, "dtype"))
    dtype = resolved_dtype(spec, device, requested)
    load = _load_kwargs(cfg, spec, device, requested)

    seed = int_value(cfg, "seed", 0)
    num_seeds = int_value(cfg, "num_seeds", 1)
    settings = JobSettings(
        model=name,
        load_kwargs=load,
        call_kwargs=call,
        decode_chunk=decode_chunk,
        freeinit=_freeinit(cfg),
        freeu=_freeu(cfg, spec.freeu),
        freqprior=(_freqprior(cfg, spec, call) if "freqprior" in cfg else None),
        freenoise=_freenoise(cfg, spec, call["num_frames"]) if "freenoise" in cfg else None,
        bytheway=(
            _bytheway(cfg, spec, _attention_frames(cfg, call["num_frames"]))
            if "bytheway" in cfg
            else None
        ),
        freelong=_freelong(cfg, spec) if "freelong" in cfg else None,
        seeds=[seed + i for i in range(num_seeds)],
        batch_size=int_value(cfg, "batch_size", 1),
        device=device,
        dtype=dtype,
    )
    weights = {k: v for k, v in load.items() if k not in ("device", "dtype")}
    settings.identity = dict(
        model=name,
        weights=weights,
        scheduler=spec.scheduler,
        call=call,
        freeinit=settings.freeinit,
        freeu=settings.freeu,
        device=torch.device(device).type,
        dtype=dtype,
    )
    # Added only when on, so that the keys of samples made before these methods existed hold.
    for method in ("freqprior", "freenoise", "bytheway", "freelong"):
        if getattr(settings, method) is not None:
            settings.identity[method] = getattr(settings, method)
    if settings.freenoise is not None and settings.freenoise["windows"]:
        # FreeNoise with its windows (the default) is what it was before freenoise.windows
        # existed: its samples keep their keys.
        settings.identity["freenoise"] = {
            k: v for k, v in settings.freenoise.items() if k != "windows"
        }
    # What the weights are, not only where: a hub branch that moves to a new commit, a local
    # directory whose files are replaced, or retrained shipped weights must not reuse old samples.
    # Unknown (None) while a real model's weights are not on this machine; the job then fails
    # at start-up (experiments.preflight) or downloads them before it resolves again.
    sources = {
        k: v for k, v in weights.items() if k in ("path", "revision", "variant", *spec.sources)
    }
    digest = weights_fingerprint(name, **sources)
    if digest is not None:
        settings.identity["weights_digest"] = digest
    return settings
