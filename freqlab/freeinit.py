"""FreeInit (Wu et al., arXiv 2312.07537) as a sampler around any diffusers video pipeline.

``FreeInit(...)(pipe, **call_kwargs)`` runs ``num_iters`` full sampling passes of ``pipe``:

* pass 0 samples from the initial noise ``eps`` (the plain baseline);
* pass k > 0 diffuses the previous clean latent ``z0`` to the last training timestep with the
  *same* ``eps``, keeps its low frequencies (:func:`freqlab.spectral.freq_mix_3d` with the cached
  :func:`freqlab.spectral.lowpass_filter`), takes the high frequencies from fresh Gaussian noise,
  and samples again.

Every pass is one ordinary ``pipe(..., latents=..., output_type="latent")`` call, so the
pipeline's own text encoding, guidance and scheduler loop run unchanged, and the clean latent of
every pass is kept (``result.latents[k]`` equals the final result of a (k+1)-pass run, without
fast sampling). Frames are decoded only on request, after sampling (:mod:`freqlab.vae`).

Passed latents are in unit-variance ("VP") units: AnimateDiffPipeline and TextToVideoSDPipeline
multiply them by ``scheduler.init_noise_sigma`` in ``prepare_latents`` exactly as they do with
their own noise (1.0 for DDIM/DDPM/DPM-Solver; ``sigma_max`` or ``sqrt(sigma_max^2 + 1)`` for Euler
-type schedulers), and flow-matching pipelines (Wan) take them as they are.

Re-noising ``z0`` follows :func:`freqlab.schedules.diffuse_to_last_timestep` (one rule per
scheduler family, :func:`freqlab.schedules.noising_rule`).

References: the paper, Wu et al., "FreeInit: Bridging Initialization Gap in Video Diffusion
Models", arXiv 2312.07537 (ECCV 2024); the official code, github.com/TianxingWu/FreeInit at commit
410286de018fef339c324e49e894a9cf82824f90 (``examples/AnimateDiff/animatediff/pipelines/
pipeline_animation.py`` for the loop, ``.../utils/freeinit_utils.py`` for the filters); and
diffusers' port, ``FreeInitMixin`` in ``src/diffusers/pipelines/free_init_utils.py``.
"""

from __future__ import annotations

import hashlib
import inspect
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers.utils.torch_utils import randn_tensor

from freqlab.checks import check_bool, check_int
from freqlab.schedules import (
    UnsupportedSchedulerError,
    diffuse_to_last_timestep,
    noising_rule,
)
from freqlab.schedules import check_flow_sigma as _check_flow_sigma
from freqlab.spectral import freq_mix_3d, lowpass_filter, validate_filter_args
from freqlab.vae import check_chunk_size, decode_latents

__all__ = [
    "RNG_MODES",
    "FreeInit",
    "FreeInitResult",
    "UnsupportedPipelineError",
    "UnsupportedSchedulerError",
    "diffuse_to_last_timestep",
    "fast_sampling_steps",
    "noising_rule",
    "pass_seed",
]

RNG_MODES = ("per_sample", "diffusers")
# Arguments the sampler sets on every pass; a caller's value would be silently wrong.
_OWNED_KWARGS = ("latents", "output_type", "return_dict")
_UINT64 = 2**64


class UnsupportedPipelineError(ValueError):
    """The pipeline cannot be driven pass by pass (no ``latents=``/``output_type=``, no scheduler,
    or a latent layout FreeInit's 3D FFT does not apply to). A scheduler FreeInit cannot noise
    with raises :class:`freqlab.schedules.UnsupportedSchedulerError` (also a ValueError)."""


def fast_sampling_steps(num_inference_steps: int, num_iters: int) -> list[int]:
    """Coarse-to-fine step counts: ``max(1, int(S / N * (k + 1)))`` for pass k (S=25, N=5 ->
    5, 10, 15, 20, 25), as the reference and diffusers."""
    return [max(1, int(num_inference_steps / num_iters * (k + 1))) for k in range(num_iters)]


# --------------------------------------------------------------------------- RNG


def pass_seed(seed: int, k: int) -> int:
    """The seed of sample noise for pass ``k`` under ``rng="per_sample"``.

    Pass 0 uses the sample's own seed, so its initial noise equals what the pipeline draws from
    ``torch.Generator().manual_seed(seed)``; pass k > 0 uses a 63-bit BLAKE2b hash of
    ``(seed, k)``, so the passes' streams are unrelated and depend on nothing else.
    """
    if k == 0:
        return int(seed)
    digest = hashlib.blake2b(f"freqlab.freeinit:{int(seed)}:{int(k)}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little") >> 1


class _NoiseSource:
    """All random draws of one FreeInit run, in one of the two :data:`RNG_MODES`."""

    def __init__(self, mode: str, generator: Any, batch: int) -> None:
        self.mode = mode
        if generator is None:
            generator = torch.Generator().manual_seed(secrets.randbits(63))
        if isinstance(generator, torch.Generator):
            gens = [generator]
        elif isinstance(generator, (list, tuple)) and all(
            isinstance(g, torch.Generator) for g in generator
        ):
            gens = list(generator)
        else:
            raise ValueError(
                f"generator must be a torch.Generator or a list of them, got {type(generator).__name__}"
            )
        if not isinstance(generator, torch.Generator) and len(gens) != batch:
            raise ValueError(
                f"generator is a list of {len(gens)} generators, but the batch has {batch} videos "
                "(prompts x num_videos_per_prompt)"
            )
        if mode == "diffusers":
            # The caller's generator(s), consumed in diffusers' order.
            self.generator = gens[0] if isinstance(generator, torch.Generator) else gens
            self.seeds = [g.initial_seed() for g in gens]
        else:
            # A single generator seeds sample i with seed + i (mod 2^64).
            if isinstance(generator, torch.Generator):
                self.seeds = [(gens[0].initial_seed() + i) % _UINT64 for i in range(batch)]
            else:
                self.seeds = [g.initial_seed() for g in gens]
            self.device = gens[0].device
        self._pass_gens: list[torch.Generator] | None = None

    def _gens(self, k: int) -> list[torch.Generator]:
        gens = [
            torch.Generator(device=self.device).manual_seed(pass_seed(s, k)) for s in self.seeds
        ]
        self._pass_gens = gens
        return gens

    def initial(self, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> Any:
        """The initial noise eps, drawn as the pipeline's ``prepare_latents`` would."""
        gen = self.generator if self.mode == "diffusers" else self._gens(0)
        return randn_tensor(shape, generator=gen, device=device, dtype=dtype)

    def fresh(self, k: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """Pass k's high-frequency noise, float32 as diffusers' ``_apply_free_init``."""
        gen = self.generator if self.mode == "diffusers" else self._gens(k)
        return randn_tensor(shape, generator=gen, device=device, dtype=torch.float32)

    def pipe_generator(self) -> Any:
        """What the pipeline gets as ``generator=`` (scheduler noise, e.g. DDIM eta > 0): the
        caller's under ``diffusers``, the pass's per-sample generators (continued) otherwise."""
        return self.generator if self.mode == "diffusers" else self._pass_gens


# --------------------------------------------------------------------------- result


class _PassDict(dict):
    """``dict`` of pass index -> tensor that also accepts negative indices (``videos[-1]``).

    Keys are absolute pass indices; a negative index counts back from ``stop`` (one past the last
    pass), as in a list of every pass.
    """

    def __init__(self, stop: int) -> None:
        super().__init__()
        self.stop = stop

    def _key(self, k: int) -> int:
        return k + self.stop if isinstance(k, int) and k < 0 else k

    def __getitem__(self, k: int) -> torch.Tensor:
        return super().__getitem__(self._key(k))

    def __contains__(self, k: object) -> bool:
        return super().__contains__(self._key(k))


@dataclass
class FreeInitResult:
    """Everything one FreeInit run produced.

    A run started at pass ``first_pass`` > 0 (resumed from a cached latent, see
    :meth:`FreeInit.__call__`) holds only the passes it computed: list entry ``i`` is pass
    ``first_pass + i``. :attr:`passes` lists the absolute pass indices.

    Attributes:
        latents: clean latents ``(B, C, T, h, w)``, one per sampling pass; ``latents[0]`` is the
            plain baseline (for ``first_pass == 0``), ``latents[-1]`` the FreeInit result.
        pass_inputs: the latent each pass started from ``(B, C, T, h, w)``, in unit-variance
            units (before the pipeline's ``init_noise_sigma``); for ``first_pass == 0``,
            ``pass_inputs[0]`` is the initial noise.
        steps: denoising steps of each pass.
        unet_calls: denoiser forward calls of each pass (one call covers both CFG halves).
        lpf: the low-pass filter used, ``(1, C, T, h, w)`` float32, fftshifted layout.
        seeds: per-video seeds (``per_sample``), or the generators' initial seeds (``diffusers``).
        seconds: wall time of each pass.
        config: the FreeInit settings (constructor arguments).
        noising: how refinements were noised (:func:`noising_rule`: ``"add_noise"``,
            ``"alphas_cumprod"`` or ``"flow"``).
        videos: decoded frames ``(B, T, C, H, W)`` float in [0, 1], by absolute pass index
            (negative indices work); only the passes asked for with ``decode=`` or
            :meth:`decode`.
        first_pass: the index of the first pass held (0 unless resumed).
        eps: the initial noise ``(B, C, T, h, w)`` that every refinement re-noises with.
    """

    latents: list[torch.Tensor]
    pass_inputs: list[torch.Tensor]
    steps: list[int]
    unet_calls: list[int]
    lpf: torch.Tensor
    seeds: list[int]
    seconds: list[float]
    config: dict[str, Any]
    noising: str
    videos: _PassDict = field(default_factory=lambda: _PassDict(0))
    first_pass: int = 0
    eps: torch.Tensor | None = None

    @property
    def num_passes(self) -> int:
        """Passes held by this result (all of them unless resumed)."""
        return len(self.latents)

    @property
    def passes(self) -> range:
        """The absolute indices of the passes held."""
        return range(self.first_pass, self.first_pass + len(self.latents))

    @property
    def initial_noise(self) -> torch.Tensor:
        """The initial noise eps ``(B, C, T, h, w)``, reused by every refinement."""
        return self.eps if self.eps is not None else self.pass_inputs[0]

    @property
    def baseline(self) -> torch.Tensor:
        """Clean latents of pass 0 (plain sampling)."""
        if self.first_pass != 0:
            raise ValueError(f"this run resumed at pass {self.first_pass}: it holds no pass 0")
        return self.latents[0]

    @property
    def final(self) -> torch.Tensor:
        """Clean latents of the last pass (the FreeInit result)."""
        return self.latents[-1]

    @property
    def total_unet_calls(self) -> int:
        return sum(self.unet_calls)

    def decode(self, pipe: Any, k: int = -1, chunk_size: int = 16) -> torch.Tensor:
        """Decode pass ``k`` (cached in :attr:`videos`): ``(B, T, C, H, W)`` float in [0, 1]."""
        index = _check_pass_index(k, self.passes)
        if index not in self.videos:
            self.videos[index] = decode_latents(
                pipe, self.latents[index - self.first_pass], chunk_size
            )
        return self.videos[index]


def _check_pass_index(k: object, passes: range) -> int:
    stop = passes.stop
    valid = not isinstance(k, bool) and isinstance(k, int)
    index = (k + stop if k < 0 else k) if valid else None
    if index is None or index not in passes:
        raise ValueError(
            f"decode: pass index must be an int in [{passes.start}, {stop}) or "
            f"[-{len(passes)}, -1], got {k!r}"
        )
    return index


def _decode_indices(decode: Any, passes: range) -> list[int]:
    """Normalise ``decode=`` (None, "all", an int or a sequence of ints) to sorted pass indices."""
    if decode is None:
        return []
    if isinstance(decode, str):
        if decode != "all":
            raise ValueError(
                f"decode must be None, 'all', an int or a sequence of ints, got {decode!r}"
            )
        return list(passes)
    items: Iterable[Any] = decode if isinstance(decode, Sequence) else [decode]
    return sorted({_check_pass_index(k, passes) for k in items})


# --------------------------------------------------------------------------- pipeline adapters


def _call_parameters(pipe: Any) -> dict[str, inspect.Parameter]:
    params = inspect.signature(pipe).parameters if callable(pipe) else {}
    missing = [p for p in ("latents", "output_type") if p not in params]
    if missing:
        raise UnsupportedPipelineError(
            f"pipeline {type(pipe).__name__} does not take {' and '.join(missing)}= in __call__"
        )
    if getattr(pipe, "scheduler", None) is None:
        raise UnsupportedPipelineError(f"pipeline {type(pipe).__name__} has no scheduler")
    return params


def _default(params: dict[str, inspect.Parameter], name: str, kwargs: dict[str, Any]) -> Any:
    if name in kwargs:
        return kwargs[name]
    param = params.get(name)
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def _batch_size(params: dict[str, inspect.Parameter], kwargs: dict[str, Any]) -> int:
    """Videos per call: prompts (or ``prompt_embeds`` rows) x ``num_videos_per_prompt``."""
    prompt = kwargs.get("prompt")
    if isinstance(prompt, (list, tuple)):
        prompts = len(prompt)
    elif prompt is not None:
        prompts = 1
    elif isinstance(kwargs.get("prompt_embeds"), torch.Tensor):
        prompts = kwargs["prompt_embeds"].shape[0]
    else:
        raise ValueError("pass prompt= (or prompt_embeds=) to the pipeline call")
    per_prompt = _default(params, "num_videos_per_prompt", kwargs) or 1
    return prompts * int(per_prompt)


def _denoiser(pipe: Any) -> torch.nn.Module | None:
    for name in ("unet", "transformer"):
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module):
            return module
    return None


def _latent_shape(
    pipe: Any, params: dict[str, inspect.Parameter], kwargs: dict[str, Any], batch: int
) -> tuple[int, int, int, int, int]:
    """``(B, C, T, h, w)`` as the pipeline's ``prepare_latents`` builds it.

    UNet pipelines (AnimateDiff, TextToVideoSD): ``C = unet.config.in_channels``, ``T`` frames,
    spatial size ``// vae_scale_factor`` (height/width default to ``sample_size *
    vae_scale_factor``). Wan-style transformer pipelines: ``T = (frames - 1) // temporal + 1``.
    """
    num_frames = _default(params, "num_frames", kwargs)
    height = _default(params, "height", kwargs)
    width = _default(params, "width", kwargs)
    unet = getattr(pipe, "unet", None)
    name = type(pipe).__name__
    if isinstance(unet, torch.nn.Module) and hasattr(pipe, "vae_scale_factor"):
        scale = pipe.vae_scale_factor
        sample_size = unet.config.sample_size
        if sample_size is None and (height is None or width is None):
            raise ValueError(
                f"pass height= and width=: the UNet of {name} has no default sample_size"
            )
        if sample_size is not None:  # the pipelines' default resolution
            height = height or sample_size * scale
            width = width or sample_size * scale
        channels, frames = unet.config.in_channels, num_frames
    elif hasattr(pipe, "vae_scale_factor_temporal") and hasattr(pipe, "vae_scale_factor_spatial"):
        denoiser = _denoiser(pipe)
        if denoiser is None or num_frames is None or height is None or width is None:
            raise UnsupportedPipelineError(f"cannot infer the latent shape of pipeline {name}")
        scale = pipe.vae_scale_factor_spatial
        channels = denoiser.config.in_channels
        frames = (int(num_frames) - 1) // pipe.vae_scale_factor_temporal + 1
    else:
        raise UnsupportedPipelineError(
            f"cannot infer the latent shape of pipeline {name} (needs a UNet with vae_scale_factor, "
            "or vae_scale_factor_temporal/vae_scale_factor_spatial)"
        )
    if frames is None:
        raise ValueError("pass num_frames= to the pipeline call")
    return (batch, int(channels), int(frames), int(height) // scale, int(width) // scale)


def _latent_dtype(pipe: Any) -> torch.dtype:
    """The dtype the pipeline draws its own noise in: the prompt embeddings' (text encoder, else
    UNet) for UNet pipelines, float32 for transformer (Wan-style) pipelines."""
    if getattr(pipe, "unet", None) is None:
        return torch.float32
    encoder = getattr(pipe, "text_encoder", None)
    return (encoder if encoder is not None else pipe.unet).dtype


class _CallCounter:
    """Counts forward calls of a module with a pre-hook, removed on exit."""

    def __init__(self, module: torch.nn.Module | None) -> None:
        self.module, self.count, self._handle = module, 0, None

    def __enter__(self) -> _CallCounter:
        if self.module is not None:
            self._handle = self.module.register_forward_pre_hook(self._hook)
        return self

    def _hook(self, module: torch.nn.Module, args: Any) -> None:
        self.count += 1

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()


# --------------------------------------------------------------------------- FreeInit


class FreeInit:
    """FreeInit's iterative noise reinitialisation, driving a diffusers pipeline pass by pass.

    Args:
        num_iters: sampling passes (1 = plain sampling; the reference's default is 5).
        method: low-pass filter, one of :data:`freqlab.spectral.FILTER_METHODS`.
        d_s, d_t: spatial/temporal stop frequencies in [0, 1].
        order: Butterworth order (>= 1).
        fast_sampling: coarse-to-fine sampling, ``max(1, int(S / N * (k + 1)))`` steps in pass k.
        variance_preserving: mix the noise with weight ``sqrt(1 - L^2)`` (FreqPrior) instead of
            ``1 - L``.
        rng: ``"per_sample"`` (default): video i's noise for pass k (the initial noise for k = 0,
            the fresh high-frequency noise for k > 0, and any noise the scheduler draws during
            the pass, e.g. DDIM with eta > 0) comes from a generator seeded with :func:`pass_seed` ``(seed_i, k)``, so it does not depend on the
            other videos of the batch. ``seed_i`` is ``generator[i].initial_seed()`` for a list of
            generators (one per video, the diffusers convention), ``seed + i`` for a single
            generator, and a fresh random seed (recorded in ``result.seeds``) without one. Pass 0
            with a list of generators therefore equals the plain pipeline call with freshly
            seeded generators. ``"diffusers"``: the caller's generator is consumed exactly as
            diffusers' ``FreeInitMixin`` does (initial latents, then each pass's noise, with
            ``randn_tensor``), so results match ``pipe.enable_free_init``. Without a generator,
            both modes seed a CPU generator with a fresh random seed (recorded in
            ``result.seeds``) instead of using torch's global RNG.
        flow_sigma: noise level of the re-noised latent for flow-matching schedulers (see
            :func:`diffuse_to_last_timestep`).

    Call ``freeinit(pipe, decode=None, decode_chunk=16, **call_kwargs)``: ``call_kwargs`` are the
    pipeline's own arguments (prompt, negative_prompt, num_frames, height, width,
    num_inference_steps, guidance_scale, generator, num_videos_per_prompt, ...). ``latents=``,
    ``output_type=`` and ``return_dict=`` are set by the sampler and rejected. ``decode`` picks
    the passes to decode after sampling: None (none; decode later with
    :meth:`FreeInitResult.decode`), ``"all"``, an int or a sequence of ints (negative allowed).
    """

    def __init__(
        self,
        num_iters: int = 5,
        method: str = "gaussian",
        d_s: float = 0.25,
        d_t: float = 0.25,
        order: float = 4,
        fast_sampling: bool = False,
        variance_preserving: bool = False,
        rng: str = "per_sample",
        flow_sigma: float = 0.96,
    ) -> None:
        check_int("num_iters", num_iters, 1)
        validate_filter_args(method, d_s, d_t, order)
        check_bool("fast_sampling", fast_sampling)
        check_bool("variance_preserving", variance_preserving)
        if rng not in RNG_MODES:
            raise ValueError(f"rng must be one of {RNG_MODES}, got {rng!r}")
        _check_flow_sigma(flow_sigma)
        self.num_iters = num_iters
        self.method = method
        self.d_s, self.d_t, self.order = float(d_s), float(d_t), order
        self.fast_sampling = fast_sampling
        self.variance_preserving = variance_preserving
        self.rng = rng
        self.flow_sigma = float(flow_sigma)

    @property
    def config(self) -> dict[str, Any]:
        return dict(
            num_iters=self.num_iters,
            method=self.method,
            d_s=self.d_s,
            d_t=self.d_t,
            order=self.order,
            fast_sampling=self.fast_sampling,
            variance_preserving=self.variance_preserving,
            rng=self.rng,
            flow_sigma=self.flow_sigma,
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"FreeInit({args})"

    def steps(self, num_inference_steps: int) -> list[int]:
        """Denoising steps of each pass for ``num_inference_steps`` = S."""
        check_int("num_inference_steps", num_inference_steps, 1)
        if self.fast_sampling:
            return fast_sampling_steps(num_inference_steps, self.num_iters)
        return [num_inference_steps] * self.num_iters

    @torch.no_grad()
    def __call__(
        self,
        pipe: Any,
        *,
        decode: Any = None,
        decode_chunk: int = 16,
        start_pass: int = 0,
        previous: torch.Tensor | None = None,
        on_pass: Callable[[int, torch.Tensor], None] | None = None,
        **call_kwargs: Any,
    ) -> FreeInitResult:
        """Run passes ``start_pass .. num_iters - 1`` of ``pipe``; see the class docstring.

        Args:
            start_pass: resume at this pass (0: from the initial noise). Pass k is determined by
                the clean latent of pass k - 1, the seeds and the settings, so a run resumed
                from a stored ``previous`` gives what an uninterrupted run gives (up to the
                float32 noise of batch composition, ~1e-4 relative on some CPUs). Needs
                ``rng="per_sample"``: the ``diffusers`` protocol consumes one generator stream
                across passes, whose state a stored latent does not carry.
            previous: the clean latents of pass ``start_pass - 1``, ``(B, C, T, h, w)``; required
                when ``start_pass > 0``.
            on_pass: called as ``on_pass(k, latents)`` after each pass, e.g. to store it before
                the next pass starts.

        Returns:
            A :class:`FreeInitResult` (``latents[i]`` of shape ``(B, C, T, h, w)`` is pass
            ``start_pass + i``).
        """
        params = _call_parameters(pipe)
        owned = [k for k in _OWNED_KWARGS if k in call_kwargs]
        if owned:
            raise ValueError(
                f"{', '.join(owned)} cannot be passed: FreeInit sets the latents of every pass and "
                "returns latents (decode them with decode= or result.decode)"
            )
        if "timesteps" in call_kwargs or "sigmas" in call_kwargs:
            raise ValueError("timesteps/sigmas cannot be passed: FreeInit sets num_inference_steps")
        if getattr(pipe, "free_init_enabled", False):
            raise ValueError(
                "diffusers' FreeInit is enabled on pipe: call pipe.disable_free_init()"
            )
        _check_start(start_pass, previous, self.num_iters, self.rng)
        if on_pass is not None and not callable(on_pass):
            raise ValueError(f"on_pass must be callable, got {type(on_pass).__name__}")
        rule = noising_rule(pipe.scheduler)  # fail before sampling
        passes = range(start_pass, self.num_iters)
        decode_at = _decode_indices(decode, passes)
        check_chunk_size(decode_chunk)
        kwargs = dict(call_kwargs)
        steps = self.steps(_default(params, "num_inference_steps", kwargs))
        kwargs.pop("num_inference_steps", None)
        batch = _batch_size(params, kwargs)
        noise = _NoiseSource(self.rng, kwargs.pop("generator", None), batch)
        shape = _latent_shape(pipe, params, kwargs, batch)
        device = pipe._execution_device

        lpf = lowpass_filter(
            (1, *shape[1:]), self.method, self.d_s, self.d_t, self.order, device, torch.float32
        )
        eps = noise.initial(shape, device, _latent_dtype(pipe))
        if previous is not None:
            if tuple(previous.shape) != shape:
                raise ValueError(
                    f"previous must be the latents of pass {start_pass - 1} with shape {shape}, "
                    f"got {tuple(previous.shape)}"
                )
            previous = previous.to(device=device, dtype=eps.dtype)
        latents, inputs, unet_calls, seconds = [], [], [], []
        counter = _CallCounter(_denoiser(pipe))
        for k in passes:
            start = time.perf_counter()
            if k == 0:
                inputs.append(eps)
            else:
                z0 = latents[-1] if latents else previous
                # As the reference: mix in float32, cast back to the latent dtype.
                z_t = diffuse_to_last_timestep(pipe.scheduler, z0, eps, self.flow_sigma)
                z_rand = noise.fresh(k, shape, device)
                mixed = freq_mix_3d(z_t.to(torch.float32), z_rand, lpf, self.variance_preserving)
                inputs.append(mixed.to(z0.dtype))
            calls_before = counter.count
            with counter:
                out = pipe(
                    **kwargs,
                    latents=inputs[-1].clone(),  # keep pass_inputs intact whatever the pipe does
                    num_inference_steps=steps[k],
                    generator=noise.pipe_generator(),
                    output_type="latent",
                    return_dict=False,
                )[0]
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != shape:
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise UnsupportedPipelineError(
                    f"pipeline {type(pipe).__name__} returned latents {got}, expected {shape}"
                )
            latents.append(out)
            unet_calls.append(counter.count - calls_before)
            seconds.append(time.perf_counter() - start)
            if on_pass is not None:
                on_pass(k, out)

        result = FreeInitResult(
            latents=latents,
            pass_inputs=inputs,
            steps=steps[start_pass:],
            unet_calls=unet_calls if counter.module is not None else [],
            lpf=lpf,
            seeds=noise.seeds,
            seconds=seconds,
            config=self.config,
            noising=rule,
            videos=_PassDict(self.num_iters),
            first_pass=start_pass,
            eps=eps,
        )
        for k in decode_at:
            result.decode(pipe, k, decode_chunk)
        return result


def _check_start(start_pass: object, previous: object, num_iters: int, rng: str) -> None:
    """Validate ``start_pass``/``previous`` of :meth:`FreeInit.__call__`."""
    if isinstance(start_pass, bool) or not isinstance(start_pass, int):
        raise ValueError(f"start_pass must be an int, got {start_pass!r}")
    if not 0 <= start_pass < num_iters:
        raise ValueError(f"start_pass must be in [0, num_iters={num_iters}), got {start_pass}")
    if start_pass == 0:
        if previous is not None:
            raise ValueError("previous is only used with start_pass > 0")
        return
    if rng != "per_sample":
        raise ValueError(
            f"start_pass > 0 needs rng='per_sample' (got rng={rng!r}): the diffusers protocol "
            "draws every pass from one generator stream, which a stored latent cannot resume"
        )
    if not isinstance(previous, torch.Tensor):
        raise ValueError(
            f"start_pass={start_pass} needs previous=, the clean latents of pass {start_pass - 1}"
        )
