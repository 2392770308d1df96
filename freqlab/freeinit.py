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
scheduler family, :func:`freqlab.schedules.noising_rule`). On a zero-terminal-SNR schedule
(CogVideoX's, or ``rescale_betas_zero_snr=True``) the last timestep is pure noise, so a refinement
would keep nothing of the previous pass; ``renoise_timestep="auto"`` (the default) re-noises there
to the timestep with the SNR of the reference's t = 999 on AnimateDiff (-28 dB,
:func:`freqlab.schedules.resolve_renoise_timestep`), and changes nothing on other schedules.

References: the paper, Wu et al., "FreeInit: Bridging Initialization Gap in Video Diffusion
Models", arXiv 2312.07537 (ECCV 2024); the official code, github.com/TianxingWu/FreeInit at commit
410286de018fef339c324e49e894a9cf82824f90 (``examples/AnimateDiff/animatediff/pipelines/
pipeline_animation.py`` for the loop, ``.../utils/freeinit_utils.py`` for the filters); and
diffusers' port, ``FreeInitMixin`` in ``src/diffusers/pipelines/free_init_utils.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from freqlab.checks import check_bool, check_int
from freqlab.sampling import (
    RNG_MODES,
    CallCounter,
    PassDict,
    SamplingResult,
    UnsupportedPipelineError,
    denoisers,
    latent_dtype,
    pass_seed,
    prepare_call,
)
from freqlab.schedules import (
    UnsupportedSchedulerError,
    check_renoise_timestep,
    diffuse_to_last_timestep,
    noising_rule,
    resolve_renoise_timestep,
)
from freqlab.schedules import check_flow_sigma as _check_flow_sigma
from freqlab.spectral import freq_mix_3d, lowpass_filter, validate_filter_args

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


def fast_sampling_steps(num_inference_steps: int, num_iters: int) -> list[int]:
    """Coarse-to-fine step counts: ``max(1, int(S / N * (k + 1)))`` for pass k (S=25, N=5 ->
    5, 10, 15, 20, 25), as the reference and diffusers."""
    return [max(1, int(num_inference_steps / num_iters * (k + 1))) for k in range(num_iters)]


@dataclass
class FreeInitResult(SamplingResult):
    """Every pass of one :class:`FreeInit` run (see :class:`freqlab.sampling.SamplingResult`)."""


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
        renoise_timestep: the training timestep the previous pass is re-noised to on DDPM-type
            schedulers: ``"auto"`` (the last, unless the schedule has zero terminal SNR: then
            the one whose SNR is the reference's -28 dB), ``"last"`` (the last, always; pure
            noise on a zero-SNR schedule) or an int timestep. Ignored by flow-matching
            schedulers (``flow_sigma`` sets their level). The timestep a run used is
            ``result.config["renoise_to"]``.

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
        renoise_timestep: int | str = "auto",
    ) -> None:
        check_int("num_iters", num_iters, 1)
        validate_filter_args(method, d_s, d_t, order)
        check_bool("fast_sampling", fast_sampling)
        check_bool("variance_preserving", variance_preserving)
        if rng not in RNG_MODES:
            raise ValueError(f"rng must be one of {RNG_MODES}, got {rng!r}")
        _check_flow_sigma(flow_sigma)
        self.renoise_timestep = check_renoise_timestep(renoise_timestep)
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
            renoise_timestep=self.renoise_timestep,
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
        call = prepare_call(
            "FreeInit",
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
        rule = noising_rule(pipe.scheduler)  # fail before sampling
        # Resolved before sampling too: a timestep past the schedule fails here.
        renoise_to = resolve_renoise_timestep(pipe.scheduler, self.renoise_timestep)
        steps = self.steps(call.num_inference_steps)
        shape, device, noise = call.shape, call.device, call.noise
        lpf = lowpass_filter(
            (1, *shape[1:]), self.method, self.d_s, self.d_t, self.order, device, torch.float32
        )
        eps = noise.initial(shape, device, latent_dtype(pipe))
        previous = call.check_previous(previous, "the latents", eps.dtype)
        latents, inputs, unet_calls, seconds = [], [], [], []
        counter = CallCounter(denoisers(pipe))  # both experts of a two-expert pipeline
        for k in call.passes:
            start = time.perf_counter()
            if k == 0:
                inputs.append(eps)
            else:
                z0 = latents[-1] if latents else previous
                # As the reference: mix in float32, cast back to the latent dtype.
                z_t = diffuse_to_last_timestep(pipe.scheduler, z0, eps, self.flow_sigma, renoise_to)
                z_rand = noise.fresh(k, shape, device)
                mixed = freq_mix_3d(z_t.to(torch.float32), z_rand, lpf, self.variance_preserving)
                inputs.append(mixed.to(z0.dtype))
            calls_before = counter.count
            with counter:
                out = call.check_output(call.run_pass(inputs[-1], steps[k]))
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
            config=self.config | {"renoise_to": renoise_to},
            noising=rule,
            videos=PassDict(self.num_iters),
            first_pass=start_pass,
            eps=eps,
        )
        for k in call.decode_at:
            result.decode(pipe, k, decode_chunk)
        return result
