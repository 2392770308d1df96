"""FreeInit sampler: parity with diffusers' FreeInitMixin, pass structure, RNG, schedulers, errors.

Tiny shapes throughout (1-2 prompts, 8 frames, 32x32, 3-4 steps, CFG on) to stay fast on CPU.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EDMEulerScheduler,
    FlowMatchEulerDiscreteScheduler,
)
from diffusers.utils.torch_utils import randn_tensor

from freqlab.freeinit import (
    FreeInit,
    UnsupportedPipelineError,
    fast_sampling_steps,
    pass_seed,
)
from freqlab.models import load_model
from freqlab.schedules import UnsupportedSchedulerError
from freqlab.spectral import freq_mix_3d, lowpass_filter
from freqlab.vae import decode_latents

KW = dict(num_frames=8, height=32, width=32, num_inference_steps=3, guidance_scale=7.5)
SHAPE = (1, 4, 8, 8, 8)  # one video's latents for KW (the tiny VAE downsamples 4x)

# What is exact and what is not. Noise, filters and the arithmetic of a pass input are equal by
# construction and compared bit for bit. Results of the UNet are not: float32 GEMM/conv results
# change with the CPU's kernels (AVX-512 vs AVX2), the batch and oneDNN's algorithm, and this
# tiny random UNet turns a 1-ulp change of its input (1e-7) into ~1e-4 in the latents after 3
# steps (measured: DDIM 9e-5, DPM-Solver 2e-4). Measured differences: batch 2 vs alone on an AMD
# EPYC (AVX-512) 8e-5 at pass 0; freqlab vs diffusers with DPM-Solver there 1.65e-4; oneDNN off
# vs on here 6e-4 to 1.4e-3. Latents are ~10 on average, up to ~100. UNET_ATOL is ~20x what
# AVX-512 showed and >100x below what a real bug does (measured on the final latents: Butterworth
# order 3 instead of 4: 0.6, d_s 0.26 instead of 0.25: 0.6, a Gaussian filter: 5, DPM-Solver
# noised to t=979 instead of 999: 1.1; a wrong seed: O(10)).
UNET_ATOL = 3e-3
# A later pass's input sees its previous latents only through sqrt(alphas_cumprod[999]) z0
# (0.04 z0), low-pass filtered: 0.04 * UNET_ATOL bounds it (measured: 5e-7 AVX-512, 3e-6 oneDNN).
PASS_INPUT_ATOL = 0.04 * UNET_ATOL
# Decoded frames are in [0, 1] (one 8-bit level = 3.9e-3); the VAE run on another chunk size
# differs by 7e-7 here, 5e-6 with oneDNN off.
VAE_ATOL = 1e-4


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def count_unet_calls(pipe, fn):
    """Run fn() and count pipe.unet forward calls with our own hook (independent of the result)."""
    calls = []
    handle = pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        fn()
    finally:
        handle.remove()
    return len(calls)


@pytest.fixture(scope="module")
def pipe():
    """One tiny AnimateDiff pipeline shared by the tests that do not modify it."""
    return load_model("tiny_animatediff")


# --------------------------------------------------------------------------- parity


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
@pytest.mark.parametrize("method", ["butterworth", "gaussian", "ideal"])
def test_parity_with_diffusers_free_init(pipe, method, fast):
    kw = dict(KW, num_inference_steps=4 if fast else 3)
    # Two prompts from one generator: the batch draws must also come in diffusers' order.
    prompts = ["a cat", "a dog"] if method == "butterworth" else ["a cat"]
    ours = FreeInit(num_iters=3, method=method, fast_sampling=fast, rng="diffusers")(
        pipe, prompt=prompts, generator=torch.Generator().manual_seed(7), **kw
    )
    pipe.enable_free_init(
        num_iters=3,
        use_fast_sampling=fast,
        method=method,
        order=4,
        spatial_stop_frequency=0.25,
        temporal_stop_frequency=0.25,
    )
    try:
        ref = pipe(
            prompt=prompts, generator=torch.Generator().manual_seed(7), output_type="latent", **kw
        ).frames
    finally:
        pipe.disable_free_init()
    assert ours.steps == ([1, 2, 4] if fast else [3, 3, 3])
    # Same batches (CFG included) and noise, but our own filter and FFT mixing: a 1-ulp
    # difference in a pass input is allowed, and shows as UNET_ATOL in the latents.
    torch.testing.assert_close(ours.final, ref, rtol=0, atol=UNET_ATOL)


def test_parity_with_diffusers_generator_list(pipe):
    """A list of generators (one per video) is consumed per video, as diffusers does."""
    ours = FreeInit(num_iters=2, method="gaussian", rng="diffusers")(
        pipe, prompt=["a cat", "a dog"], generator=gens(3, 4), **KW
    )
    pipe.enable_free_init(num_iters=2, method="gaussian")
    try:
        ref = pipe(prompt=["a cat", "a dog"], generator=gens(3, 4), output_type="latent", **KW)
    finally:
        pipe.disable_free_init()
    torch.testing.assert_close(ours.final, ref.frames, rtol=0, atol=UNET_ATOL)  # as above


@pytest.mark.parametrize("rng", ["per_sample", "diffusers"])
def test_pass_k_equals_final_of_k_pass_run(pipe, rng):
    run = FreeInit(num_iters=3, rng=rng)(pipe, prompt="a cat", generator=gens(11), **KW)
    assert len(run.latents) == 3
    # Exact: the same inputs through the same batch shapes in one process.
    for passes in (1, 2):
        shorter = FreeInit(num_iters=passes, rng=rng)(
            pipe, prompt="a cat", generator=gens(11), **KW
        )
        torch.testing.assert_close(run.latents[passes - 1], shorter.final, rtol=0, atol=0)


@pytest.mark.parametrize("rng", ["per_sample", "diffusers"])
def test_single_pass_equals_plain_pipeline_call(pipe, rng):
    fi = FreeInit(num_iters=1, rng=rng)
    ours = fi(pipe, prompt=["a cat", "a dog"], generator=gens(1, 2), **KW)
    plain = pipe(prompt=["a cat", "a dog"], generator=gens(1, 2), output_type="latent", **KW)
    # Exact: pass 0 is this very call, with the same draws handed in as latents=.
    torch.testing.assert_close(ours.final, plain.frames, rtol=0, atol=0)
    assert ours.steps == [3] and len(ours.latents) == 1


# --------------------------------------------------------------------------- UNet calls


def test_fast_sampling_step_lists():
    assert fast_sampling_steps(25, 5) == [5, 10, 15, 20, 25]
    assert fast_sampling_steps(25, 3) == [8, 16, 25]
    assert fast_sampling_steps(20, 3) == [6, 13, 20]
    assert fast_sampling_steps(2, 5) == [1, 1, 1, 1, 2]  # diffusers' max(1, .) guard
    assert FreeInit(num_iters=5, fast_sampling=True).steps(25) == [5, 10, 15, 20, 25]
    assert FreeInit(num_iters=4).steps(25) == [25] * 4


@pytest.mark.parametrize(
    ("num_iters", "steps", "fast", "expected"),
    [(2, 3, False, [3, 3]), (3, 5, True, [1, 3, 5])],
    ids=["full", "fast"],
)
def test_unet_call_counts(pipe, num_iters, steps, fast, expected):
    kw = dict(KW, num_inference_steps=steps)
    fi = FreeInit(num_iters=num_iters, fast_sampling=fast, rng="diffusers")
    box = {}
    ours = count_unet_calls(pipe, lambda: box.update(r=fi(pipe, prompt="a cat", **kw)))
    assert box["r"].steps == expected
    assert box["r"].unet_calls == expected  # one call per step: CFG halves share a batch
    assert ours == box["r"].total_unet_calls == sum(expected)
    pipe.enable_free_init(num_iters=num_iters, use_fast_sampling=fast)
    try:
        ref = count_unet_calls(pipe, lambda: pipe(prompt="a cat", output_type="latent", **kw))
    finally:
        pipe.disable_free_init()
    assert ref == ours


# --------------------------------------------------------------------------- RNG


def test_same_seed_is_bitwise_deterministic(pipe):
    fi = FreeInit(num_iters=2)
    a = fi(pipe, prompt=["a cat", "a dog"], generator=torch.Generator().manual_seed(5), **KW)
    b = fi(pipe, prompt=["a cat", "a dog"], generator=torch.Generator().manual_seed(5), **KW)
    for x, y in zip(a.latents + a.pass_inputs, b.latents + b.pass_inputs, strict=True):
        assert torch.equal(x, y)
    assert a.seeds == b.seeds == [5, 6]  # single generator: seed + i


def test_per_sample_output_does_not_depend_on_batch(pipe):
    fi = FreeInit(num_iters=3)
    both = fi(pipe, prompt=["a cat", "a dog"], generator=gens(1, 2), **KW)
    alone = fi(pipe, prompt=["a cat"], generator=gens(1), **KW)
    # The noise is identical by construction (same generators, same draws): pass 0's input, and
    # each later pass's input rebuilt from the batch's own previous latents with video 0's noise.
    assert torch.equal(both.pass_inputs[0][:1], alone.pass_inputs[0])
    eps = randn_tensor(SHAPE, generator=gens(pass_seed(1, 0)), dtype=torch.float32)
    for k in (1, 2):
        z_rand = randn_tensor(SHAPE, generator=gens(pass_seed(1, k)), dtype=torch.float32)
        z_t = pipe.scheduler.add_noise(both.latents[k - 1][:1], eps, torch.tensor([999]))
        # atol: the batch's FFT runs over 2 videos, this one over 1 (float32 round-off of ~1).
        torch.testing.assert_close(
            both.pass_inputs[k][:1], freq_mix_3d(z_t, z_rand, both.lpf), rtol=0, atol=1e-6
        )
    # Through the UNet a CFG batch of 4 vs 2 may use other GEMM/conv blockings (bitwise equal on
    # some CPUs, 8e-5 apart on AVX-512): see UNET_ATOL, and PASS_INPUT_ATOL for what follows.
    for k in range(3):
        torch.testing.assert_close(both.latents[k][:1], alone.latents[k], rtol=0, atol=UNET_ATOL)
        torch.testing.assert_close(
            both.pass_inputs[k][:1], alone.pass_inputs[k], rtol=0, atol=PASS_INPUT_ATOL
        )
    # A single generator with seed s seeds video i with s + i: seed 1 is the list seeded [1, 2].
    # Exact: the same draws through the same batch shapes in one process.
    single = fi(pipe, prompt=["a cat", "a dog"], generator=torch.Generator().manual_seed(1), **KW)
    assert single.seeds == both.seeds == [1, 2]
    assert torch.equal(single.final, both.final)


def test_per_sample_noise_follows_pass_seed(pipe):
    r = FreeInit(num_iters=2)(pipe, prompt="a cat", generator=gens(9), **KW)
    eps = randn_tensor(SHAPE, generator=gens(pass_seed(9, 0)), dtype=torch.float32)
    assert pass_seed(9, 0) == 9 and pass_seed(9, 1) != pass_seed(9, 2) != pass_seed(10, 1)
    assert torch.equal(r.initial_noise, eps)
    z_rand = randn_tensor(SHAPE, generator=gens(pass_seed(9, 1)), dtype=torch.float32)
    z_t = pipe.scheduler.add_noise(r.latents[0], eps, torch.tensor([999]))
    expected = freq_mix_3d(z_t, z_rand, r.lpf)
    torch.testing.assert_close(r.pass_inputs[1], expected, rtol=0, atol=0)


def test_without_generator_seeds_are_recorded_and_reproduce(pipe):
    fi, kw = FreeInit(num_iters=2), dict(KW, num_inference_steps=2)
    r = fi(pipe, prompt=["a cat", "a dog"], **kw)
    assert len(r.seeds) == 2 and r.seeds[1] == r.seeds[0] + 1
    again = fi(pipe, prompt=["a cat", "a dog"], generator=gens(*r.seeds), **kw)
    assert torch.equal(r.final, again.final)


# --------------------------------------------------------------------------- options


def test_variance_preserving_changes_the_result(pipe):
    plain = FreeInit(num_iters=2)(pipe, prompt="a cat", generator=gens(3), **KW)
    vp = FreeInit(num_iters=2, variance_preserving=True)(
        pipe, prompt="a cat", generator=gens(3), **KW
    )
    assert torch.equal(plain.latents[0], vp.latents[0])  # the baseline pass is untouched
    assert (plain.pass_inputs[1] - vp.pass_inputs[1]).abs().max() > 1e-2
    assert (plain.final - vp.final).abs().max() > 1e-2
    # sqrt(1 - L^2) >= 1 - L: the re-initialised noise has more (not less) energy.
    assert vp.pass_inputs[1].std() > plain.pass_inputs[1].std()


def test_result_metadata(pipe):
    r = FreeInit(num_iters=2, method="butterworth", d_s=0.5)(
        pipe, prompt="a cat", generator=gens(0), **KW
    )
    assert r.num_passes == 2 and r.baseline is r.latents[0] and r.final is r.latents[-1]
    assert r.lpf.shape == (1, 4, 8, 8, 8) and r.lpf.dtype == torch.float32
    assert torch.equal(r.lpf, lowpass_filter((1, 4, 8, 8, 8), "butterworth", 0.5, 0.25, 4))
    assert r.config["method"] == "butterworth" and r.config["d_s"] == 0.5
    assert r.steps == [3, 3] and r.unet_calls == [3, 3] and len(r.seconds) == 2
    assert r.initial_noise.shape == SHAPE and len(r.videos) == 0  # nothing decoded by default


def test_decode_only_requested_passes(pipe):
    fi = FreeInit(num_iters=3)
    r = fi(
        pipe, prompt=["a cat", "a dog"], generator=gens(1, 2), decode=(0, -1), decode_chunk=5, **KW
    )
    assert sorted(r.videos) == [0, 2] and 1 not in r.videos and -1 in r.videos
    video = r.videos[-1]
    assert video.shape == (2, 8, 3, 32, 32) and video.dtype == torch.float32
    assert 0 <= video.min() and video.max() <= 1
    # decode_chunk=5 vs 16 frames per VAE call: batch-dependent float32 round-off (VAE_ATOL).
    torch.testing.assert_close(video, decode_latents(pipe, r.final), rtol=0, atol=VAE_ATOL)
    middle = r.decode(pipe, 1)
    assert r.videos[1] is middle and r.decode(pipe, 1) is middle  # cached
    kw = dict(KW, num_inference_steps=1)
    everything = FreeInit(num_iters=2)(pipe, prompt="a cat", generator=gens(1), decode="all", **kw)
    assert sorted(everything.videos) == [0, 1]


def test_text_to_video_sd(tiny_modelscope):
    fi = FreeInit(num_iters=2, method="butterworth")
    r = fi(tiny_modelscope, prompt=["a cat", "a dog"], generator=gens(1, 2), decode=-1, **KW)
    assert r.final.shape == (2, 4, 8, 8, 8) and torch.isfinite(r.final).all()
    assert r.unet_calls == [3, 3]
    plain = tiny_modelscope(
        prompt=["a cat", "a dog"], generator=gens(1, 2), output_type="latent", **KW
    )
    torch.testing.assert_close(r.latents[0], plain.frames, rtol=0, atol=0)  # the same call
    assert (r.final - r.latents[0]).abs().max() > 1e-2
    assert r.videos[-1].shape == (2, 8, 3, 32, 32)


# --------------------------------------------------------------------------- schedulers


def test_dpm_solver_noises_to_the_training_schedule(tiny_animatediff):
    pipe = tiny_animatediff
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    assert pipe.scheduler.init_noise_sigma == 1.0  # so unit-variance latents pass unchanged
    r = FreeInit(num_iters=2, method="butterworth", rng="diffusers")(
        pipe, prompt="a cat", generator=gens(4)[0], **KW
    )
    assert r.noising == "alphas_cumprod" and r.unet_calls == [3, 3]
    g = torch.Generator().manual_seed(4)  # diffusers' order: initial noise, then pass 1's noise
    eps, z_rand = randn_tensor(SHAPE, generator=g), randn_tensor(SHAPE, generator=g)
    a = pipe.scheduler.alphas_cumprod[999]
    z_t = a.sqrt() * r.latents[0] + (1 - a).sqrt() * eps
    torch.testing.assert_close(r.pass_inputs[1], freq_mix_3d(z_t, z_rand, r.lpf), rtol=0, atol=1e-6)
    # With "linspace" spacing t=999 is the first inference timestep, so DPM-Solver's add_noise
    # (an inference-schedule lookup) happens to agree and diffusers' FreeInit gives the same, up
    # to rounding: it computes the factors from sigma (1 / sqrt(sigma^2 + 1), ...), we from
    # alphas_cumprod. A 1-ulp difference in pass 1's input gives ~2e-4 here (AVX-512: 1.65e-4).
    pipe.enable_free_init(num_iters=2)
    try:
        ref = pipe(prompt="a cat", generator=gens(4)[0], output_type="latent", **KW).frames
    finally:
        pipe.disable_free_init()
    torch.testing.assert_close(r.final, ref, rtol=0, atol=UNET_ATOL)


class _Config(dict):
    def __getattr__(self, name):
        return self[name]


class _FakeTransformer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.config = _Config(in_channels=4)

    def forward(self, x):
        return x * 0.5


class _FakeWanPipeline:
    """Wan-shaped stand-in: 4x temporal / 8x spatial VAE, flow matching, latents passed as is."""

    vae_scale_factor_temporal = 4
    vae_scale_factor_spatial = 8
    _execution_device = torch.device("cpu")

    def __init__(self):
        self.transformer = _FakeTransformer()
        self.scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)

    def __call__(
        self,
        prompt=None,
        num_frames=81,
        height=480,
        width=832,
        num_inference_steps=50,
        generator=None,
        latents=None,
        output_type="np",
        return_dict=True,
    ):
        for _ in range(num_inference_steps):
            latents = self.transformer(latents)
        return (latents,)


def test_flow_matching_pipeline_end_to_end():
    fake = _FakeWanPipeline()
    r = FreeInit(num_iters=2, flow_sigma=0.9)(
        fake,
        prompt="x",
        num_frames=9,
        height=32,
        width=32,
        num_inference_steps=2,
        generator=gens(1),
    )
    shape = (1, 4, 3, 4, 4)  # (9 - 1) // 4 + 1 latent frames
    assert r.final.shape == shape and r.unet_calls == [2, 2]
    z_rand = randn_tensor(shape, generator=gens(pass_seed(1, 1)), dtype=torch.float32)
    z_t = 0.1 * r.latents[0] + 0.9 * r.initial_noise
    torch.testing.assert_close(r.pass_inputs[1], freq_mix_3d(z_t, z_rand, r.lpf))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(num_iters=0), "num_iters"),
        (dict(num_iters=2.0), "num_iters"),
        (dict(num_iters=True), "num_iters"),
        (dict(method="lowpass"), "method"),
        (dict(d_s=-0.1), "d_s"),
        (dict(d_s=1.5), "d_s"),
        (dict(d_t="0.25"), "d_t"),
        (dict(order=0), "order"),
        (dict(fast_sampling=1), "fast_sampling"),
        (dict(variance_preserving="yes"), "variance_preserving"),
        (dict(rng="global"), "rng"),
        (dict(flow_sigma=1.0), "flow_sigma"),
        (dict(flow_sigma=0), "flow_sigma"),
        (dict(renoise_timestep="first"), "renoise_timestep"),
        (dict(renoise_timestep=-1), "renoise_timestep"),
        (dict(renoise_timestep=2.5), "renoise_timestep"),
    ],
)
def test_constructor_errors(kwargs, name):
    with pytest.raises(ValueError, match=name):
        FreeInit(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(latents=torch.zeros(SHAPE)), "latents"),
        (dict(output_type="pt"), "output_type"),
        (dict(return_dict=True), "return_dict"),
        (dict(timesteps=[999, 500]), "timesteps"),
        (dict(generator=0), "generator"),
        (dict(generator=gens(1, 2, 3)), "generator"),
        (dict(decode="last"), "decode"),
        (dict(decode=3), "decode"),
        (dict(decode=[0, 1.5]), "decode"),
        (dict(decode_chunk=0), "chunk_size"),
        (dict(num_inference_steps=0), "num_inference_steps"),
    ],
)
def test_call_errors(pipe, kwargs, match):
    call = dict(KW, prompt=["a cat", "a dog"])
    call.update(kwargs)
    with pytest.raises(ValueError, match=match):
        FreeInit(num_iters=3)(pipe, **call)


def test_missing_prompt_and_enabled_diffusers_free_init(pipe):
    with pytest.raises(ValueError, match="prompt"):
        FreeInit()(pipe, **KW)
    pipe.enable_free_init()
    try:
        with pytest.raises(ValueError, match="disable_free_init"):
            FreeInit()(pipe, prompt="a cat", **KW)
    finally:
        pipe.disable_free_init()


def test_unsupported_pipelines_and_schedulers(tiny_animatediff):
    class NoLatents:
        scheduler = DDIMScheduler()

        def __call__(self, prompt=None, output_type="pil"):
            return None

    with pytest.raises(UnsupportedPipelineError, match="NoLatents.*latents"):
        FreeInit()(NoLatents(), prompt="x")

    fake = _FakeWanPipeline()
    fake.scheduler = None
    with pytest.raises(UnsupportedPipelineError, match="_FakeWanPipeline has no scheduler"):
        FreeInit()(fake, prompt="x")

    tiny_animatediff.scheduler = EDMEulerScheduler()
    with pytest.raises(UnsupportedSchedulerError, match="EDMEulerScheduler"):
        FreeInit()(tiny_animatediff, prompt="x", **KW)
    assert issubclass(UnsupportedSchedulerError, ValueError)


def test_unet_without_sample_size_needs_height_and_width(tiny_animatediff):
    # Converted checkpoints (e.g. VideoCrafter2) may carry sample_size: null.
    tiny_animatediff.unet.register_to_config(sample_size=None)
    with pytest.raises(ValueError, match="height= and width="):
        FreeInit(num_iters=1)(tiny_animatediff, prompt="a cat", num_frames=2)
    result = FreeInit(num_iters=1)(
        tiny_animatediff,
        prompt="a cat",
        num_frames=2,
        height=32,
        width=32,
        num_inference_steps=1,
        generator=torch.Generator().manual_seed(0),
    )
    assert result.final.shape == (1, 4, 2, 8, 8)


# --------------------------------------------------------------------------- resuming at a pass


def test_resumed_run_equals_the_uninterrupted_run(pipe):
    prompts = ["a cat", "a dog"]
    whole = FreeInit(num_iters=4)(pipe, prompt=prompts, generator=gens(3, 4), **KW)
    seen = []
    resumed = FreeInit(num_iters=4)(
        pipe,
        prompt=prompts,
        generator=gens(3, 4),
        start_pass=2,
        previous=whole.latents[1],
        on_pass=lambda k, z: seen.append((k, z.shape)),
        decode=-1,
        **KW,
    )
    assert seen == [(2, whole.final.shape), (3, whole.final.shape)]
    assert list(resumed.passes) == [2, 3] and resumed.first_pass == 2
    assert resumed.steps == [3, 3] and resumed.unet_calls == [3, 3]
    # Equal by construction: the initial noise and the refinement inputs (same previous latent,
    # same per-sample noise streams, same batch).
    assert torch.equal(resumed.initial_noise, whole.initial_noise)
    assert torch.equal(resumed.pass_inputs[0], whole.pass_inputs[2])
    # Same inputs, same batch, same process: the UNet gives the same result.
    torch.testing.assert_close(resumed.latents[1], whole.latents[3], rtol=0, atol=0)
    assert sorted(resumed.videos) == [3] and 3 in resumed.videos and -1 in resumed.videos
    with pytest.raises(ValueError, match="holds no pass 0"):
        _ = resumed.baseline
    with pytest.raises(ValueError, match=r"pass index must be an int in \[2, 4\)"):
        resumed.decode(pipe, 1)


def test_resumed_video_does_not_depend_on_its_batch(pipe):
    whole = FreeInit(num_iters=2)(pipe, prompt=["a cat", "a dog"], generator=gens(3, 4), **KW)
    alone = FreeInit(num_iters=2)(
        pipe,
        prompt="a dog",
        generator=gens(4),
        start_pass=1,
        previous=whole.latents[0][1:],
        **KW,
    )
    # The pass input is computed per video from its own seed: exact.
    assert torch.equal(alone.pass_inputs[0], whole.pass_inputs[1][1:])
    # Through the UNet in a batch of 1 instead of 2: float32 matrix products may round
    # differently with the batch (~1e-4 relative on AVX-512 CPUs); |latent| is O(1-10) here.
    torch.testing.assert_close(alone.final, whole.final[1:], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(start_pass=1), "needs previous="),
        (
            dict(start_pass=3, previous=torch.zeros(SHAPE)),
            r"start_pass must be in \[0, num_iters=3\)",
        ),
        (dict(start_pass=-1), r"start_pass must be in"),
        (dict(start_pass=True), "start_pass must be an int"),
        (dict(previous=torch.zeros(SHAPE)), "only used with start_pass > 0"),
        (dict(start_pass=1, previous=torch.zeros(1, 4, 8, 4, 4)), "previous must be the latents"),
        (dict(on_pass=3), "on_pass must be callable"),
    ],
)
def test_resume_errors(pipe, kwargs, match):
    with pytest.raises(ValueError, match=match):
        FreeInit(num_iters=3)(pipe, prompt="a cat", generator=gens(0), **KW, **kwargs)


def test_resume_needs_the_per_sample_protocol(pipe):
    with pytest.raises(ValueError, match="rng='per_sample'"):
        FreeInit(num_iters=3, rng="diffusers")(
            pipe, prompt="a cat", generator=gens(0), start_pass=1, previous=torch.zeros(SHAPE), **KW
        )


def test_pass_zero_is_the_same_under_both_rng_protocols(pipe):
    # The cache shares pass 0 across rng modes: both draw the initial noise first from the
    # video's own freshly seeded generator and hand the pipeline that generator's state.
    a = FreeInit(num_iters=1, rng="per_sample")(pipe, prompt=["a", "b"], generator=gens(5, 6), **KW)
    b = FreeInit(num_iters=1, rng="diffusers")(pipe, prompt=["a", "b"], generator=gens(5, 6), **KW)
    assert torch.equal(a.initial_noise, b.initial_noise)
    torch.testing.assert_close(a.final, b.final, rtol=0, atol=0)


# --------------------------------------------------------------------------- zero terminal SNR


def test_zero_snr_refined_noise_keeps_the_previous_pass(tiny_animatediff):
    """On a zero-terminal-SNR v-prediction DDIM (CogVideoX's kind of schedule) t = 999 is pure
    noise: re-noised there, two runs with the same seed and different prompts get bit-identical
    refined noise. The default rule re-noises to t = 881 (-28 dB, the reference's SNR), so the
    difference of the refined noise is the low-passed difference of the first passes, times
    sqrt(alpha_bar_881) = 0.040."""
    pipe = tiny_animatediff
    pipe.scheduler = DDIMScheduler.from_config(
        pipe.scheduler.config, rescale_betas_zero_snr=True, prediction_type="v_prediction"
    )
    assert float(pipe.scheduler.alphas_cumprod[999]) == 0.0
    prompts = ("a cat", "a red car on a road")
    runs = {
        rule: [
            FreeInit(num_iters=2, renoise_timestep=rule)(pipe, prompt=p, generator=gens(0), **KW)
            for p in prompts
        ]
        for rule in ("auto", "last")
    }
    auto, last = runs["auto"], runs["last"]
    assert auto[0].config["renoise_to"] == 881 and last[0].config["renoise_to"] == 999
    assert torch.equal(last[0].pass_inputs[1], last[1].pass_inputs[1])  # the finding
    d0 = auto[0].latents[0] - auto[1].latents[0]  # the first passes (= last's: same pass 0)
    d1 = auto[0].pass_inputs[1] - auto[1].pass_inputs[1]
    assert d0.abs().max() > 0.5 and d1.abs().max() > 0.01
    # Same eps and same fresh noise in both runs: only the low-passed z0 term differs.
    a = pipe.scheduler.alphas_cumprod[881]
    expected = freq_mix_3d(a.sqrt() * d0, torch.zeros_like(d0), auto[0].lpf)
    torch.testing.assert_close(d1, expected, rtol=0, atol=1e-5)
    # The low frequencies follow: spatial means per (frame, channel) of the two differences
    # (measured 0.993; the filter's temporal low-pass smooths them across frames).
    means0, means1 = d0.mean(dim=(3, 4)).flatten(), d1.mean(dim=(3, 4)).flatten()
    assert torch.corrcoef(torch.stack([means0, means1]))[0, 1] > 0.9


def test_renoise_timestep_past_the_schedule_fails_before_sampling(pipe):
    calls = []

    def run():
        with pytest.raises(ValueError, match=r"renoise_timestep must be in \[0, 999\]"):
            FreeInit(num_iters=2, renoise_timestep=1000)(pipe, prompt="a cat", **KW)

    calls.append(count_unet_calls(pipe, run))
    assert calls == [0]


def test_renoise_timestep_on_a_standard_schedule(pipe):
    # auto and last are the same run on AnimateDiff's schedule; an int moves the target.
    runs = [
        FreeInit(num_iters=2, renoise_timestep=rule)(pipe, prompt="a cat", generator=gens(3), **KW)
        for rule in ("auto", "last", 500)
    ]
    assert [r.config["renoise_to"] for r in runs] == [999, 999, 500]
    assert torch.equal(runs[0].pass_inputs[1], runs[1].pass_inputs[1])
    assert not torch.allclose(runs[0].pass_inputs[1], runs[2].pass_inputs[1])


# --------------------------------------------------------------------------- CogVideoX's layout
# CogVideoXPipeline's latents are (B, F, C, h, w); freqlab converts at the pipeline boundary only
# (freqlab.sampling.latent_layout), so the 3D FFT runs over (frames, h, w) and results are
# (B, C, F, h, w) as for every other model.

COG_KW = dict(num_frames=9, height=32, width=32, num_inference_steps=2, guidance_scale=6.0)
COG_SHAPE = (1, 16, 3, 8, 8)  # 9 frames -> 3 latent frames; 32 px / 4 (the tiny VAE)


@pytest.fixture(scope="module")
def cogvideox():
    from freqlab.models.tiny import tiny_cogvideox

    return tiny_cogvideox()


def test_cogvideox_layout_is_read_off_the_pipeline(cogvideox):
    from freqlab.sampling import (
        from_pipeline_layout,
        latent_layout,
        latent_shape,
        to_pipeline_layout,
    )

    assert latent_layout(cogvideox) == "BTCHW"
    assert latent_layout(load_model("tiny_animatediff")) == "BCTHW"
    import inspect

    params = dict(inspect.signature(cogvideox).parameters)
    assert latent_shape(cogvideox, params, dict(COG_KW), 1) == COG_SHAPE
    # The pipeline's defaults: its transformer's sample_frames (5) and sample size (8 x 4 px).
    assert latent_shape(cogvideox, params, {}, 2) == (2, 16, 2, 8, 8)
    assert to_pipeline_layout(COG_SHAPE, "BTCHW") == (1, 3, 16, 8, 8)
    z = torch.randn(COG_SHAPE)
    assert torch.equal(from_pipeline_layout(to_pipeline_layout(z, "BTCHW"), "BTCHW"), z)


def test_cogvideox_pass_0_is_the_plain_pipeline_call(cogvideox):
    plain = cogvideox(prompt="a cat", generator=gens(3), output_type="latent", **COG_KW).frames
    assert plain.shape == (1, 3, 16, 8, 8)  # the pipeline's own (B, F, C, h, w)
    result = FreeInit(num_iters=2)(cogvideox, prompt="a cat", generator=gens(3), **COG_KW)
    assert result.latents[0].shape == result.latents[1].shape == COG_SHAPE
    assert result.lpf.shape == COG_SHAPE  # the filter's T axis is the latent frames
    # Same noise (drawn in the pipeline's order), same transformer calls: bit for bit.
    assert torch.equal(result.latents[0], plain.permute(0, 2, 1, 3, 4))
    assert torch.equal(
        result.pass_inputs[0].permute(0, 2, 1, 3, 4),
        torch.randn((1, 3, 16, 8, 8), generator=torch.Generator().manual_seed(3)),
    )
    # Zero-terminal-SNR v-prediction DDIM (CogVideoX-2b's): re-noised to -28 dB, not to t = 999.
    assert result.noising == "add_noise" and result.config["renoise_to"] == 877
    assert result.unet_calls == [2, 2]  # CFG halves in one transformer call
    # The diffusers protocol draws the initial noise as the pipeline does, too.
    single = FreeInit(num_iters=1, rng="diffusers")(
        cogvideox, prompt="a cat", generator=torch.Generator().manual_seed(3), **COG_KW
    )
    assert torch.equal(single.latents[0], result.latents[0])


def test_cogvideox_filter_runs_over_frames_not_channels(cogvideox):
    # Resume at pass 1 from z0 and from zeros with the same seeds: the pass inputs differ by the
    # low-passed sqrt(alphas_cumprod) z0 only (the noise terms are the same). A pattern varying
    # only across channels is constant over (frames, h, w): the FFT's DC, kept whole. A pattern
    # varying only across frames (cos(pi t / 2), zero mean) has only temporal frequencies +-1/4,
    # outside an ideal low-pass of d_t = 0.25: removed. With the FFT over the pipeline's
    # (F, C, h, w) instead, it would be the other way round. 13 frames = 4 latent frames: the
    # reference's frequency grid (2 t / T - 1) has an exact zero only for even T.
    shape = (1, 16, 4, 8, 8)
    kw = dict(COG_KW, num_frames=13)
    c = torch.linspace(-1, 1, 16).view(1, 16, 1, 1, 1)
    t = torch.cos(torch.pi * torch.arange(4) / 2).view(1, 1, 4, 1, 1)
    channels_only, frames_only = c.expand(shape), t.expand(shape)
    freeinit = FreeInit(num_iters=2, method="ideal_exact", d_s=0.25, d_t=0.25)
    results = [
        freeinit(
            cogvideox,
            prompt="a cat",
            generator=gens(5),
            start_pass=1,
            previous=z0.contiguous(),
            **kw,
        )
        for z0 in (channels_only + frames_only, torch.zeros(shape))
    ]
    assert results[0].lpf.shape == shape
    a = cogvideox.scheduler.alphas_cumprod[877]
    diff = results[0].pass_inputs[0] - results[1].pass_inputs[0]
    torch.testing.assert_close(diff, (a.sqrt() * channels_only).float(), rtol=0, atol=1e-6)
    assert results[0].final.shape == shape


def test_freqprior_on_cogvideox_keeps_the_layout(cogvideox):
    # FreqPrior shares the boundary (freqlab.sampling): its z_mid, captured inside the loop in the
    # pipeline's (B, F, C, h, w), is converted too.
    from freqlab import FreqPrior

    kw = dict(COG_KW, num_inference_steps=4)  # trailing: 999, 749, 499, 249
    result = FreqPrior(num_iters=2, mid_step=499)(
        cogvideox, prompt="a cat", generator=gens(3), **kw
    )
    assert [m.shape for m in result.mid_latents] == [COG_SHAPE] * 2
    plain = cogvideox(prompt="a cat", generator=gens(3), output_type="latent", **kw).frames
    assert result.latents[-1].shape == COG_SHAPE
    assert result.latents[0] is None or torch.equal(result.latents[0], plain.permute(0, 2, 1, 3, 4))


# --------------------------------------------------------------------------- every video DiT
# Wan, LTX-Video (token-packed latents) and Mochi (12 channels, time /6): the sampler sees
# (B, C, T, h, w) whatever the pipeline's boundary, pass 0 is the pipeline's own call, and the
# filter's axes are (latent frames, h, w).

DIT_CASES = {
    # name: (call arguments, freqlab's latent shape, the pipeline's own output shape)
    "tiny_wan": (dict(num_frames=13, height=32, width=32), (1, 16, 4, 4, 4), (1, 16, 4, 4, 4)),
    "tiny_ltx": (dict(num_frames=25, height=32, width=32), (1, 8, 4, 4, 4), (1, 64, 8)),
    "tiny_mochi": (dict(num_frames=19, height=32, width=32), (1, 12, 4, 4, 4), (1, 12, 4, 4, 4)),
    # HunyuanVideo 1.5: noise in the transformer's dtype, guidance through its guider.
    "tiny_hunyuanvideo15": (
        dict(num_frames=13, height=16, width=16),
        (1, 8, 4, 4, 4),
        (1, 8, 4, 4, 4),
    ),
}


@pytest.fixture(scope="module", params=sorted(DIT_CASES))
def dit(request):
    return request.param, load_model(request.param)


def _dit_kwargs(name, **extra):
    kw, _, _ = DIT_CASES[name]
    return {**kw, "num_inference_steps": 2, "guidance_scale": 3.0, **extra}


def test_video_dit_pass_0_is_the_plain_pipeline_call(dit):
    name, pipe = dit
    _, shape, own_shape = DIT_CASES[name]
    kw = _dit_kwargs(name)
    own_kw = dict(kw)
    if name == "tiny_hunyuanvideo15":  # no guidance_scale argument: its guider's
        pipe.guider = pipe.guider.new(guidance_scale=own_kw.pop("guidance_scale"))
    plain = pipe(
        prompt="a cat", generator=gens(3), output_type="latent", return_dict=False, **own_kw
    )
    assert tuple(plain[0].shape) == own_shape  # LTX: (B, T*h*w tokens, C)
    result = FreeInit(num_iters=2)(pipe, prompt="a cat", generator=gens(3), **kw)
    assert [tuple(z.shape) for z in result.latents] == [shape, shape]
    assert result.lpf.shape[2:] == shape[2:]  # the filter's T axis is the latent frames
    # The same noise (drawn in the pipeline's order and dtype), the same transformer calls.
    from freqlab.latents import latent_packing, pack_latents

    packing = latent_packing(pipe)
    own = result.latents[0] if packing is None else pack_latents(result.latents[0], *packing)
    assert torch.equal(own, plain[0])
    # Wan and HunyuanVideo 1.5 call their transformer once per CFG half, the others once a step.
    per_step = 2 if name in ("tiny_wan", "tiny_hunyuanvideo15") else 1
    assert result.unet_calls == [2 * per_step] * 2
    assert result.noising == "flow"


def test_video_dit_filter_runs_over_latent_frames(dit):
    # As the CogVideoX test above, on a flow-matching schedule: resumed at pass 1 from z0 and from
    # zeros with the same seeds, the pass inputs differ by (1 - flow_sigma) LPF(z0). A pattern
    # varying only across channels is the FFT's DC over (frames, h, w): kept whole. A pattern
    # varying only across latent frames (cos(pi t / 2), zero mean) has only the temporal
    # frequencies +-1/4, outside an ideal low-pass of d_t = 0.25: removed. Were the FFT run over
    # LTX's tokens (or any other axes), neither would hold.
    name, pipe = dit
    _, shape, _ = DIT_CASES[name]
    c = torch.linspace(-1, 1, shape[1]).view(1, shape[1], 1, 1, 1)
    t = torch.cos(torch.pi * torch.arange(shape[2]) / 2).view(1, 1, shape[2], 1, 1)
    channels_only, frames_only = c.expand(shape), t.expand(shape)
    freeinit = FreeInit(num_iters=2, method="ideal_exact", d_s=0.25, d_t=0.25)
    results = [
        freeinit(
            pipe,
            prompt="a cat",
            generator=gens(5),
            start_pass=1,
            previous=z0.contiguous(),
            **_dit_kwargs(name),
        )
        for z0 in (channels_only + frames_only, torch.zeros(shape))
    ]
    diff = results[0].pass_inputs[0] - results[1].pass_inputs[0]
    expected = (1 - results[0].config["flow_sigma"]) * channels_only
    torch.testing.assert_close(diff, expected.float(), rtol=0, atol=1e-6)
    assert results[0].final.shape == shape


def test_guidance_reaches_a_guider_pipeline_for_the_call_only():
    # HunyuanVideo15Pipeline takes no guidance_scale: the sampler sets it on a copy of the
    # pipeline's guider for each pass and puts the pipeline's own back.
    pipe = load_model("tiny_hunyuanvideo15")
    guider = pipe.guider
    kw = _dit_kwargs("tiny_hunyuanvideo15", guidance_scale=1.0)  # 1: the conditional branch only
    result = FreeInit(num_iters=1)(pipe, prompt="a cat", generator=gens(3), **kw)
    assert result.unet_calls == [2]  # 2 steps, one call each: no unconditional branch
    assert pipe.guider is guider and guider.guidance_scale == 6.0
    guided = FreeInit(num_iters=1)(
        pipe, prompt="a cat", generator=gens(3), **dict(kw, guidance_scale=6.0)
    )
    assert guided.unet_calls == [4] and not torch.equal(guided.latents[0], result.latents[0])
