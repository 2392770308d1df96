"""FreqPrior: the prior against an independent reference and its variance, partial sampling
and its UNet-call count, both RNG protocols, resume, schedulers and errors.

The official code draws from numpy's and torch's global (CUDA) RNGs, so bit parity with it is
not possible: the formulas are tested instead, against a reference written here from the paper
and the official pipeline's description (spectra shifted as the official, not the mask).
"""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EDMEulerScheduler,
    EulerDiscreteScheduler,
)
from diffusers.utils.torch_utils import randn_tensor

from freqlab import FreqPrior
from freqlab.freqprior import (
    FLOW_MID_SIGMA,
    _inference_schedule,
    flow_mid_index,
    freqprior_noise,
    inference_schedule,
    renoise_from_mid,
    snr_matched_sigma,
)
from freqlab.models import load_model
from freqlab.models.tiny import tiny_wan, tiny_wan22
from freqlab.sampling import UnsupportedPipelineError, pass_seed
from freqlab.schedules import UnsupportedSchedulerError
from freqlab.spectral import freq_mix_3d, lowpass_filter

# The official AnimateDiff scheduler: DDIM, linear betas 0.00085 -> 0.012, steps_offset=1,
# "leading" spacing: 25 steps are 961, 921, ..., 321 (index 16), ..., 1.
OFFICIAL_DDIM = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="linear",
    steps_offset=1,
    clip_sample=False,
    timestep_spacing="leading",
)
KW = dict(num_frames=4, height=16, width=16, guidance_scale=7.5)
# Values that pass through the tiny random UNet differ with the CPU's kernels and the batch
# (~1e-4 after a few steps on AVX-512; see tests/test_freeinit.py UNET_ATOL for measurements);
# noise, filters and the prior's arithmetic are compared bit for bit.
UNET_ATOL = 3e-3


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


@pytest.fixture(scope="module")
def pipe():
    pipe = load_model("tiny_animatediff")
    pipe.scheduler = DDIMScheduler(**OFFICIAL_DDIM)
    return pipe


# --------------------------------------------------------------------------- the prior


def reference_prior(z_t, eta1, eta2, y1, y2, lpf, r):
    """The official two-branch construction, spectra fftshifted (independent of freqlab's)."""
    dims = (-3, -2, -1)
    hpf = torch.sqrt(1 - lpf**2)

    def mix(x, y):
        sx = torch.fft.fftshift(torch.fft.fftn(x, dim=dims), dim=dims)
        sy = torch.fft.fftshift(torch.fft.fftn(y, dim=dims), dim=dims)
        return torch.fft.ifftn(torch.fft.ifftshift(sx * lpf + sy * hpf, dim=dims), dim=dims)

    x1 = (r * z_t + math.sqrt(1 - r * r) * eta1) / math.sqrt(1 + r * r)
    x2 = (r * z_t + math.sqrt(1 - r * r) * eta2) / math.sqrt(1 + r * r)
    m1, m2 = mix(x1, y1), mix(x2, y2)
    return ((m1.real + m1.imag) + (m2.real - m2.imag)) / math.sqrt(2)


@pytest.mark.parametrize("shape", [(2, 4, 8, 8, 8), (1, 3, 5, 7, 9)], ids=["even", "odd"])
@pytest.mark.parametrize("method", ["butterworth", "gaussian", "ideal"])
def test_prior_matches_the_reference(shape, method):
    g = torch.Generator().manual_seed(0)
    z, e1, e2, y1, y2 = (torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(5))
    lpf = lowpass_filter((1, *shape[1:]), method, 0.25, 0.25, 4, dtype=torch.float64)
    ours = freqprior_noise(z, (e1, e2), (y1, y2), lpf, 0.8)
    torch.testing.assert_close(
        ours, reference_prior(z, e1, e2, y1, y2, lpf, 0.8), atol=1e-12, rtol=0
    )


def test_re_plus_minus_im_matters_only_for_odd_sizes():
    # Even sizes: the fftshifted filter is Hermitian, each branch's mix is real and Re+-Im is a
    # no-op; odd sizes: the filter is off-centre and Im m_1 - Im m_2 remains.
    for shape, real in (((1, 1, 8, 8, 8), True), ((1, 1, 5, 7, 9), False)):
        g = torch.Generator().manual_seed(1)
        z, e1, e2, y1, y2 = (torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(5))
        lpf = lowpass_filter((1, *shape[1:]), "butterworth", 0.25, 0.25, 4, dtype=torch.float64)
        ours = freqprior_noise(z, (e1, e2), (y1, y2), lpf, 0.8)
        re_only = sum(
            freq_mix_3d((0.8 * z + 0.6 * e) / math.sqrt(1.64), y, lpf, variance_preserving=True)
            for e, y in ((e1, y1), (e2, y2))
        ) / math.sqrt(2)
        gap = (ours - re_only).abs().max().item()
        assert (gap < 1e-12) if real else (gap > 1e-3)


@pytest.mark.parametrize(
    ("method", "freeinit_variance"), [("gaussian", 0.960), ("butterworth", 0.992)]
)
def test_the_prior_keeps_unit_variance_where_freeinit_decays(method, freeinit_variance):
    # z_T standard normal (what the re-noised latent approximates): the per-element variance of
    # FreqPrior's noise is 1 within sampling error, FreeInit's mean(L^2) + mean((1 - L)^2).
    # 32 draws of a 16 x 32 x 32 grid (the reference's numpy check): 524k values, so the
    # variance's standard error is sqrt(2 / 524k) = 0.002; the tolerance is ~4 of them.
    shape = (32, 1, 16, 32, 32)
    g = torch.Generator().manual_seed(2)
    z, e1, e2, y1, y2 = (torch.randn(shape, generator=g) for _ in range(5))
    lpf = lowpass_filter((1, *shape[1:]), method, 0.25, 0.25, 4)
    ours = freqprior_noise(z, (e1, e2), (y1, y2), lpf, 0.8)
    theirs = freq_mix_3d(z, y1, lpf)
    expected = (lpf**2).mean() + ((1 - lpf) ** 2).mean()
    assert abs(expected.item() - freeinit_variance) < 0.003  # the reference's numbers
    assert abs(ours.var().item() - 1.0) < 0.008
    assert abs(theirs.var().item() - expected.item()) < 0.008
    # Per element: every position has the same variance (the mix is a circular filter).
    per_element = ours.var(dim=0)
    assert abs(per_element.mean().item() - 1.0) < 0.008


# --------------------------------------------------------------------------- partial diffusion


def test_renoise_from_mid_ddim_is_the_official_ratio():
    s = _inference_schedule(DDIMScheduler(**OFFICIAL_DDIM), 25)
    index = s.timesteps.tolist().index(321)
    g = torch.Generator().manual_seed(3)
    z, eps = torch.randn(2, 4, 3, 4, 4, generator=g), torch.randn(2, 4, 3, 4, 4, generator=g)
    ratio = (s.alphas_cumprod[999] / s.alphas_cumprod[321]).item()
    expected = math.sqrt(ratio) * z + math.sqrt(1 - ratio) * eps
    torch.testing.assert_close(renoise_from_mid(s, z, eps, index), expected)


def test_renoise_from_mid_euler_converts_from_sigma_units():
    # Euler's loop holds z / sqrt(alpha_bar); converted back, it re-noises as DDIM does.
    config = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="linear")
    ddim = _inference_schedule(DDIMScheduler(**config, timestep_spacing="linspace"), 10)
    euler = _inference_schedule(EulerDiscreteScheduler(**config, timestep_spacing="linspace"), 10)
    index = 4
    t = int(round(float(euler.timesteps[index])))
    alpha = euler.alphas_cumprod[t].item()
    g = torch.Generator().manual_seed(4)
    z, eps = torch.randn(1, 4, 2, 4, 4, generator=g), torch.randn(1, 4, 2, 4, 4, generator=g)
    ddim.timesteps[index] = t  # the same training timestep (linspace rounds alike)
    ours = renoise_from_mid(euler, z / math.sqrt(alpha), eps, index)
    torch.testing.assert_close(ours, renoise_from_mid(ddim, z, eps, index), atol=1e-4, rtol=1e-4)


def test_renoise_from_mid_flow_keeps_the_flow_path():
    from diffusers import FlowMatchEulerDiscreteScheduler

    s = _inference_schedule(FlowMatchEulerDiscreteScheduler(shift=3.0), 10)
    index, flow_sigma = 5, 0.9
    sigma = float(s.sigmas[index])
    ones, zeros = torch.ones(1, 1, 1, 2, 2), torch.zeros(1, 1, 1, 2, 2)
    a = renoise_from_mid(s, ones, zeros, index, flow_sigma).flatten()[0].item()
    b = renoise_from_mid(s, zeros, ones, index, flow_sigma).flatten()[0].item()
    # z_mid = (1 - sigma) x0 + sigma n -> (1 - flow_sigma) x0 + total noise std flow_sigma.
    assert a * (1 - sigma) == pytest.approx(1 - flow_sigma, rel=1e-6)
    assert math.hypot(a * sigma, b) == pytest.approx(flow_sigma, rel=1e-6)
    with pytest.raises(ValueError, match="flow_sigma"):
        renoise_from_mid(s, ones, zeros, 1, 0.5)  # below the noise level there


# --------------------------------------------------------------------------- sampling


def test_partial_sampling_makes_57_unet_calls_instead_of_75(pipe):
    calls = []
    handle = pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        r = FreqPrior()(pipe, prompt="a cat", num_inference_steps=25, generator=gens(0), **KW)
    finally:
        handle.remove()
    assert len(calls) == 57 and r.unet_calls == [16, 16, 25] and r.steps == [16, 16, 25]
    assert r.mid_index == 16 and r.latents[0] is None and r.latents[1] is None
    assert r.final.shape == (1, 4, 4, 4, 4) and len(r.mid_latents) == 3
    with pytest.raises(ValueError, match="pass 0 stopped at mid_step 321"):
        r.decode(pipe, 0)
    assert FreqPrior().steps(25, 16) == [16, 16, 25]


def test_save_intermediate_changes_nothing_but_the_cost(pipe):
    run = dict(prompt=["a cat", "a dog"], num_inference_steps=25, **KW)
    fast = FreqPrior()(pipe, generator=gens(0, 1), **run)
    full = FreqPrior(save_intermediate=True)(pipe, generator=gens(0, 1), decode=[0], **run)
    # Same batch and arithmetic up to mid_step; DDIM with eta 0 draws nothing after it.
    assert full.unet_calls == [25, 25, 25] and torch.equal(full.final, fast.final)
    for a, b in zip(fast.mid_latents, full.mid_latents, strict=True):
        assert torch.equal(a, b)
    assert full.videos[0].shape == (2, 4, 3, 16, 16)


def test_pass_inputs_follow_the_formulas_per_sample(pipe):
    r = FreqPrior(num_iters=2)(
        pipe, prompt="a cat", num_inference_steps=25, generator=gens(7), **KW
    )
    shape = (1, 4, 4, 4, 4)
    # Pass 0: the seed's own noise, as the pipeline draws it.
    assert torch.equal(r.pass_inputs[0], randn_tensor(shape, generator=gens(7)))
    # Pass 1: z_mid re-noised with eps, then eta_1, eta_2, y_1, y_2 from pass_seed(7, 1).
    s = _inference_schedule(pipe.scheduler, 25)
    z_t = renoise_from_mid(s, r.mid_latents[0], r.initial_noise, 16)
    g = gens(pass_seed(7, 1))
    draws = [randn_tensor(shape, generator=g) for _ in range(4)]
    expected = freqprior_noise(z_t, draws[:2], draws[2:], r.lpf, 0.8)
    assert torch.equal(r.pass_inputs[1], expected)


def test_diffusers_protocol_consumes_one_generator_in_order(pipe):
    g = torch.Generator().manual_seed(5)
    r = FreqPrior(num_iters=2, rng="diffusers")(
        pipe, prompt="a cat", num_inference_steps=25, generator=g, **KW
    )
    shape = (1, 4, 4, 4, 4)
    ref = torch.Generator().manual_seed(5)
    eps = randn_tensor(shape, generator=ref)
    draws = [randn_tensor(shape, generator=ref) for _ in range(4)]  # eta_1, eta_2, y_1, y_2
    assert torch.equal(r.initial_noise, eps)
    z_t = renoise_from_mid(_inference_schedule(pipe.scheduler, 25), r.mid_latents[0], eps, 16)
    assert torch.equal(r.pass_inputs[1], freqprior_noise(z_t, draws[:2], draws[2:], r.lpf, 0.8))
    assert torch.equal(g.get_state(), ref.get_state())  # DDIM eta 0 drew nothing else


def test_per_sample_video_does_not_depend_on_its_batch(pipe):
    run = dict(num_inference_steps=25, **KW)
    both = FreqPrior(num_iters=2)(pipe, prompt=["a cat", "a dog"], generator=gens(0, 1), **run)
    alone = FreqPrior(num_iters=2)(pipe, prompt=["a dog"], generator=gens(1), **run)
    assert torch.equal(both.pass_inputs[0][1], alone.pass_inputs[0][0])
    torch.testing.assert_close(both.final[1], alone.final[0], atol=UNET_ATOL, rtol=0)


def test_resumed_run_equals_the_uninterrupted_run(pipe):
    run = dict(prompt="a cat", num_inference_steps=25, **KW)
    stored = []
    whole = FreqPrior(save_intermediate=True)(
        pipe, generator=gens(3), on_pass=lambda k, z0, mid: stored.append((k, z0, mid)), **run
    )
    assert [k for k, _, _ in stored] == [0, 1, 2]
    assert all(
        torch.equal(mid, m) for (_, _, mid), m in zip(stored, whole.mid_latents, strict=True)
    )
    resumed = FreqPrior(save_intermediate=True)(
        pipe, generator=gens(3), start_pass=2, previous=stored[1][2], **run
    )
    assert resumed.first_pass == 2 and resumed.unet_calls == [25]
    torch.testing.assert_close(resumed.final, whole.final, atol=UNET_ATOL, rtol=0)


def test_one_pass_is_plain_sampling(pipe):
    run = dict(prompt="a cat", num_inference_steps=5, **KW)
    r = FreqPrior(num_iters=1, mid_step=pipe.scheduler.config.steps_offset + 800)
    with pytest.raises(ValueError, match="mid_step must be one of"):
        r(pipe, generator=gens(0), **run)
    ours = FreqPrior(num_iters=1, mid_step=601)(pipe, generator=gens(0), **run)
    plain = pipe(generator=gens(0), output_type="latent", **run).frames
    torch.testing.assert_close(ours.final, plain, atol=UNET_ATOL, rtol=0)


@pytest.mark.parametrize("scheduler", ["dpm", "euler"])
def test_sigma_schedulers(tiny_animatediff, scheduler):
    config = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="linear")
    cls = DPMSolverMultistepScheduler if scheduler == "dpm" else EulerDiscreteScheduler
    tiny_animatediff.scheduler = cls(**config)
    timesteps = [
        round(float(t)) for t in _inference_schedule(tiny_animatediff.scheduler, 6).timesteps
    ]
    r = FreqPrior(num_iters=2, mid_step=timesteps[3])(
        tiny_animatediff, prompt="a cat", num_inference_steps=6, generator=gens(0), **KW
    )
    assert r.unet_calls == [3, 6] and r.noising == "alphas_cumprod"
    assert torch.isfinite(r.final).all()


def test_flow_matching_pipeline():
    pipe = tiny_wan()
    timesteps = _inference_schedule(pipe.scheduler, 4).timesteps
    mid = round(float(timesteps[2]))
    r = FreqPrior(num_iters=2, mid_step=mid)(
        pipe,
        prompt="a cat",
        num_frames=5,
        height=16,
        width=16,
        num_inference_steps=4,
        generator=gens(0),
    )
    # Wan runs its transformer twice per guided step (conditional and unconditional).
    assert r.noising == "flow" and r.unet_calls == [4, 8] and torch.isfinite(r.final).all()


# --------------------------------------------------------------------------- flow matching: mid_sigma

WAN_KW = dict(prompt="a cat", num_frames=5, height=16, width=16)


def test_mid_sigma_auto_has_the_snr_of_mid_step_321_on_animatediff():
    # The official stop, timestep 321 of AnimateDiff's linear betas, as a flow noise level of the
    # same SNR; the same rule turns t = 999 into flow_sigma's 0.96.
    alphas = DDIMScheduler(**OFFICIAL_DDIM).alphas_cumprod.double()
    assert FLOW_MID_SIGMA == 0.5369 and FreqPrior().mid_sigma == FLOW_MID_SIGMA
    assert snr_matched_sigma(alphas[321].item()) == pytest.approx(FLOW_MID_SIGMA, abs=5e-5)
    a, s = alphas[321].item(), FLOW_MID_SIGMA
    assert 20 * math.log10((1 - s) / s) == pytest.approx(10 * math.log10(a / (1 - a)), abs=0.01)
    assert snr_matched_sigma(alphas[999].item()) == pytest.approx(0.96, abs=0.002)


@pytest.mark.parametrize(
    ("scheduler", "steps", "index"),
    [
        ("euler", 4, 2),  # tiny_wan: sigmas 1, 0.858, 0.602, 0.009
        ("euler22", 10, 8),  # tiny_wan22, shift 12: ..., 0.783, 0.624, 0.126
        ("unipc3", 50, 36),  # Wan 2.1 (UniPC, shift 3): sigma 0.539, 72% of the steps
        ("unipc12", 40, 36),  # Wan 2.2 A14B (shift 12): 0.574, 90% of the steps
    ],
)
def test_flow_stop_is_the_step_nearest_mid_sigma(scheduler, steps, index):
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    sched = {
        "euler": lambda: FlowMatchEulerDiscreteScheduler(shift=3.0),
        "euler22": lambda: FlowMatchEulerDiscreteScheduler(shift=12.0),
        "unipc3": lambda: UniPCMultistepScheduler(
            use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=3.0
        ),
        "unipc12": lambda: UniPCMultistepScheduler(
            use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=12.0
        ),
    }[scheduler]()
    fp = FreqPrior()
    assert fp.mid_index(sched, steps) == index
    sigmas = [float(x) for x in _inference_schedule(sched, steps).sigmas[:steps]]
    nearest = min(abs(x - FLOW_MID_SIGMA) for x in sigmas[1:])
    assert abs(sigmas[index] - FLOW_MID_SIGMA) == nearest
    # mid_step is not used on flow schedules (their timesteps are sigma x 1000 after the shift)
    assert FreqPrior(mid_step=9).mid_index(sched, steps) == index
    assert fp.steps(steps, index) == [index, index, steps]


def test_flow_mid_index_ties_go_to_the_noisier_step_and_needs_two_steps():
    assert flow_mid_index(0.5, [1.0, 0.6, 0.4], "S") == 1
    assert flow_mid_index(0.45, [1.0, 0.6, 0.4], "S") == 2
    assert flow_mid_index(0.99, [1.0, 0.6, 0.4], "S") == 1  # never the first step
    with pytest.raises(ValueError, match="^mid_sigma: S at 1 step has no step after the first"):
        flow_mid_index(0.5, [1.0], "S")


def test_tiny_wan_stops_at_the_documented_step():
    pipe = tiny_wan()
    steps = 4
    r = FreqPrior(num_iters=3)(pipe, num_inference_steps=steps, generator=gens(0), **WAN_KW)
    schedule = _inference_schedule(pipe.scheduler, steps)
    # sigma 0.602 is the nearest to 0.5369 (0.858 and 0.009 are the others after the first)
    assert r.mid_index == 2 and r.mid_sigma == pytest.approx(float(schedule.sigmas[2]))
    assert r.mid_step == round(float(schedule.timesteps[2])) == 602
    # CFG: two transformer calls a step; passes 0 and 1 stop after 2 steps
    assert r.unet_calls == [4, 4, 8] and r.steps == [2, 2, 4]
    assert r.latents[0] is None and r.config["mid_sigma"] == FLOW_MID_SIGMA
    # z_mid is the latent a plain run holds entering step 2 (after step 1's scheduler.step)
    seen = {}

    def keep(p, i, t, kw):
        seen[i] = kw["latents"].clone()
        return kw

    pipe(
        num_inference_steps=steps,
        generator=gens(0),
        output_type="latent",
        callback_on_step_end=keep,
        **WAN_KW,
    )
    torch.testing.assert_close(r.mid_latents[0], seen[1], atol=UNET_ATOL, rtol=0)
    # another mid_sigma, another step: 0.85 is nearest 0.858, after the first step
    early = FreqPrior(num_iters=2, mid_sigma=0.85)(
        pipe, num_inference_steps=steps, generator=gens(0), **WAN_KW
    )
    assert early.mid_index == 1 and early.unet_calls == [2, 8]
    torch.testing.assert_close(early.mid_latents[0], seen[0], atol=UNET_ATOL, rtol=0)


def test_tiny_wan22_stops_in_the_low_noise_expert():
    # 10 steps at shift 12: sigmas 1, .99, .977, .961, .939, .908 (t >= 875: `transformer`),
    # .861, .783, .624 (stop, index 8), .126 (`transformer_2`).
    pipe = tiny_wan22()
    calls = {"transformer": 0, "transformer_2": 0}
    hooks = [
        getattr(pipe, name).register_forward_pre_hook(
            lambda module, args, name=name: calls.__setitem__(name, calls[name] + 1)
        )
        for name in calls
    ]
    try:
        r = FreqPrior(num_iters=2)(pipe, num_inference_steps=10, generator=gens(0), **WAN_KW)
    finally:
        for h in hooks:
            h.remove()
    assert r.mid_index == 8 and r.mid_sigma == pytest.approx(0.624, abs=1e-3)
    # two calls a step (CFG in both experts): 6 + 2 steps stopped, 6 + 4 in full
    assert r.unet_calls == [16, 20]
    assert calls == {"transformer": 12 + 12, "transformer_2": 4 + 8}
    assert torch.isfinite(r.final).all()


def test_flow_stop_above_flow_sigma_is_refused_before_sampling():
    pipe = tiny_wan()
    calls = []
    hook = pipe.transformer.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        # at 10 steps (shift 3) sigma 0.96 is nearest 0.97: more noise than flow_sigma 0.9
        below = r"^flow_sigma 0.9 is below the noise level where the passes stop \(sigma 0.9601,"
        with pytest.raises(ValueError, match=below):
            FreqPrior(mid_sigma=0.97, flow_sigma=0.9)(
                pipe, num_inference_steps=10, generator=gens(0), **WAN_KW
            )
        with pytest.raises(ValueError, match="^mid_sigma: FlowMatchEulerDiscreteScheduler at 1"):
            FreqPrior()(pipe, num_inference_steps=1, generator=gens(0), **WAN_KW)
    finally:
        hook.remove()
    assert calls == []


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(ratio=0), "ratio"),
        (dict(ratio=1.5), "ratio"),
        (dict(ratio=True), "ratio"),
        (dict(mid_step=-1), "mid_step"),
        (dict(mid_step=32.1), "mid_step"),
        (dict(num_iters=0), "num_iters"),
        (dict(method="lowpass"), "method"),
        (dict(d_s=2), "d_s"),
        (dict(order=0), "order"),
        (dict(save_intermediate=1), "save_intermediate"),
        (dict(rng="numpy"), "rng"),
        (dict(flow_sigma=1.0), "flow_sigma"),
        (dict(mid_sigma=0), "mid_sigma"),
        (dict(mid_sigma=1.0), "mid_sigma"),
        (dict(mid_sigma=-0.5), "mid_sigma"),
        (dict(mid_sigma=float("nan")), "mid_sigma"),
        (dict(mid_sigma=True), "mid_sigma"),
        (dict(mid_sigma="half"), "mid_sigma"),
    ],
)
def test_constructor_errors(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        FreqPrior(**kwargs)


def test_mid_step_must_be_a_later_timestep_of_the_schedule(pipe):
    run = dict(prompt="a cat", num_inference_steps=25, generator=gens(0), **KW)
    with pytest.raises(ValueError, match=r"^mid_step .* got 320; nearest: 361, 321, 281"):
        FreqPrior(mid_step=320)(pipe, **run)
    with pytest.raises(ValueError, match="after the first \\(961\\)"):
        FreqPrior(mid_step=961)(pipe, **run)
    with pytest.raises(ValueError, match="latents cannot be passed"):
        FreqPrior()(pipe, latents=torch.zeros(1), **run)


def test_unsupported_scheduler_is_named(tiny_animatediff):
    tiny_animatediff.scheduler = EDMEulerScheduler()
    with pytest.raises(UnsupportedSchedulerError, match="EDMEulerScheduler"):
        FreqPrior()(tiny_animatediff, prompt="a cat", num_inference_steps=25, **KW)


# --------------------------------------------------------------------------- own schedules
# LTX-Video, Mochi and HunyuanVideo 1.5 pass their own sigmas to set_timesteps inside __call__.
# The stop must be at mid_sigma's step of *that* schedule: the expected levels below are read off
# the pipeline's scheduler after a plain call (Mochi's inverted: level = 1 - its sigma).

OWN_CASES = {
    # name: (call arguments, latent grid (T, h, w), steps, documented stop index, its level,
    #        transformer calls a step)
    # LTX: 4 steps, mu from 4*4*4 tokens, terminal 0.1: levels 1, .7769, .4883, .1 -> index 2
    "tiny_ltx": (dict(num_frames=25, height=32, width=32), (4, 4, 4), 4, 2, 0.4883, 1),
    # Mochi: 6 linear-quadratic steps: 1, .9917, .9833, .975, .8611, .5361 -> index 5
    "tiny_mochi": (dict(num_frames=19, height=32, width=32), (4, 4, 4), 6, 5, 0.5361, 1),
    # HunyuanVideo 1.5: linspace(1, 0, 4)[:-1] at shift 5: 1, .9091, .7143 -> index 2
    "tiny_hunyuanvideo15": (dict(num_frames=13, height=16, width=16), (4, 4, 4), 3, 2, 0.7143, 1),
}


@pytest.fixture(scope="module", params=sorted(OWN_CASES))
def own(request):
    return request.param, load_model(request.param)


def _plain_call(pipe, steps, kw, guidance):
    """A plain pipeline call: the latent entering each step (what its ``scheduler.step`` gets;
    HunyuanVideo 1.5 has no step callback) and the noise levels its scheduler ran."""
    seen = {}
    sched = pipe.scheduler
    original = sched.step

    def step(model_output, timestep, sample, *args, **kwargs):
        seen[len(seen)] = sample.clone()
        return original(model_output, timestep, sample, *args, **kwargs)

    own_kw = dict(kw, num_inference_steps=steps, generator=gens(0), output_type="latent")
    guider = getattr(pipe, "guider", None)
    if guider is not None:  # HunyuanVideo 1.5 takes guidance through its guider
        pipe.guider = guider.new(guidance_scale=guidance)
    else:
        own_kw["guidance_scale"] = guidance
    sched.step = step
    try:
        pipe(prompt="a cat", **own_kw)
    finally:
        del sched.step
        if guider is not None:
            pipe.guider = guider
    sigmas = [float(s) for s in sched.sigmas[:steps]]
    if sched.config.get("invert_sigmas"):  # Mochi: its t = 0 is noise
        sigmas = [1.0 - s for s in sigmas]
    return seen, sigmas


def test_own_schedule_pipelines_stop_at_the_documented_step(own):
    from freqlab.latents import latent_packing, pack_latents

    name, pipe = own
    kw, grid, steps, index, level, per_step = OWN_CASES[name]
    guidance = 1.0  # one transformer call a step everywhere (HunyuanVideo's guider included)
    seen, levels = _plain_call(pipe, steps, kw, guidance)
    # the documented rule on the pipeline's own levels: nearest mid_sigma after the first step
    nearest = min(range(1, steps), key=lambda i: (abs(levels[i] - FLOW_MID_SIGMA), i))
    assert nearest == index and levels[index] == pytest.approx(level, abs=1e-4)
    fp = FreqPrior(num_iters=2)
    assert fp.mid_index(pipe.scheduler, steps, pipe, grid) == index  # before any call
    r = fp(
        pipe,
        prompt="a cat",
        num_inference_steps=steps,
        generator=gens(0),
        guidance_scale=guidance,
        **kw,
    )
    assert r.mid_index == index and r.mid_sigma == pytest.approx(levels[index], abs=1e-6)
    assert r.steps == [index, steps] and r.unet_calls == [index * per_step, steps * per_step]
    assert r.latents[0] is None and torch.isfinite(r.final).all()
    assert r.final.shape == r.mid_latents[0].shape and tuple(r.final.shape[2:]) == grid
    # z_mid is the latent the plain call holds entering the stop step (its pass 0 is that call)
    packing = latent_packing(pipe)
    mid = r.mid_latents[0] if packing is None else pack_latents(r.mid_latents[0], *packing)
    torch.testing.assert_close(mid, seen[index].to(mid.dtype), atol=UNET_ATOL, rtol=0)
    # pass 1 restarts from the re-noised z_mid: its input differs from pass 0's noise
    assert not torch.equal(r.pass_inputs[1], r.pass_inputs[0])


def test_ltx_resumes_from_z_mid_on_its_own_schedule():
    # Resumed at pass 1 (the pipeline's scheduler not run yet), the stop and the re-noising
    # come from LTX's own schedule: the same input and result as the uninterrupted run.
    pipe = load_model("tiny_ltx")
    kw, _, steps, index, _, _ = OWN_CASES["tiny_ltx"]
    run = dict(prompt="a cat", num_inference_steps=steps, guidance_scale=3.0, **kw)
    full = FreqPrior(num_iters=2)(pipe, generator=gens(1), **run)
    resumed = FreqPrior(num_iters=2)(
        pipe, generator=gens(1), start_pass=1, previous=full.mid_latents[0], **run
    )
    assert resumed.mid_index == full.mid_index == index
    assert torch.equal(resumed.pass_inputs[0], full.pass_inputs[1])
    torch.testing.assert_close(resumed.final, full.final, atol=UNET_ATOL, rtol=0)


def test_mochi_renoises_from_its_inverted_sigma():
    # Mochi's scheduler counts backwards: at 6 steps its sigma at the stop is 0.4639, the
    # noise level 0.5361. z_T = a z_mid + b eps with a = (1 - 0.96) / (1 - 0.5361) (not
    # / (1 - 0.4639)) and b = sqrt(0.96^2 - (a 0.5361)^2).
    pipe = load_model("tiny_mochi")
    s = inference_schedule(pipe.scheduler, 6, pipe)
    assert float(s.sigmas[5]) == pytest.approx(0.4639, abs=1e-4)  # the scheduler's own
    ones, zeros = torch.ones(1, 2, 1, 1, 1), torch.zeros(1, 2, 1, 1, 1)
    level = 1.0 - float(s.sigmas[5])
    a = renoise_from_mid(s, ones, zeros, 5).flatten()[0].item()
    b = renoise_from_mid(s, zeros, ones, 5).flatten()[0].item()
    assert a == pytest.approx(0.04 / (1 - level), rel=1e-5)
    assert b == pytest.approx(math.sqrt(0.96**2 - (a * level) ** 2), rel=1e-5)
    # the noise level the latent holds: a^2-weighted mid level plus b^2 is 0.96^2
    assert (a * level) ** 2 + b**2 == pytest.approx(0.96**2, rel=1e-6)


def test_a_pipeline_schedule_freqlab_does_not_reproduce_is_refused(monkeypatch):
    # Without its entry, Mochi's stop would be located on the scheduler's plain schedule: the
    # pipeline sets another, and the first step refuses (one transformer call spent).
    import freqlab.freqprior as freqprior_module

    monkeypatch.delitem(freqprior_module.OWN_SCHEDULES, "MochiPipeline")
    pipe = load_model("tiny_mochi")
    calls = []
    hook = pipe.transformer.register_forward_pre_hook(lambda m, a: calls.append(1))
    kw, _, steps, _, _, _ = OWN_CASES["tiny_mochi"]
    try:
        with pytest.raises(
            UnsupportedPipelineError, match="^pipeline MochiPipeline set its scheduler to timesteps"
        ):
            FreqPrior(num_iters=2)(
                pipe, prompt="a cat", num_inference_steps=steps, generator=gens(0), **kw
            )
    finally:
        hook.remove()
    assert calls == [1]
    assert not hasattr(pipe.scheduler, "__dict__") or "step" not in pipe.scheduler.__dict__


def test_mid_index_needs_the_pipeline_where_it_sets_the_schedule():
    names = ("tiny_ltx", "tiny_mochi", "tiny_hunyuanvideo15")
    ltx, mochi, hunyuan = (load_model(n).scheduler for n in names)
    fp = FreqPrior()
    with pytest.raises(UnsupportedPipelineError, match="mu.*pass the pipeline"):
        fp.mid_index(ltx, 4)  # dynamic shifting: no plain schedule
    with pytest.raises(UnsupportedPipelineError, match="pass latent_size"):
        fp.mid_index(ltx, 4, "LTXPipeline")
    # LTX's shift grows with the token count: a bigger grid stops later
    assert fp.mid_index(ltx, 10, "LTXPipeline", (3, 4, 4)) == 6
    assert fp.mid_index(ltx, 50, "LTXPipeline", (21, 15, 22)) > fp.mid_index(
        ltx, 50, "LTXPipeline", (3, 4, 4)
    )
    with pytest.raises(UnsupportedPipelineError, match="invert_sigmas.*MochiPipeline"):
        fp.mid_index(mochi, 6)
    assert fp.mid_index(mochi, 6, "MochiPipeline") == 5
    # a subclass of a listed pipeline sets the schedule as its base class
    from diffusers import HunyuanVideo15Pipeline

    sub = type("MyHunyuan", (HunyuanVideo15Pipeline,), {})
    assert fp.mid_index(hunyuan, 3, sub) == fp.mid_index(hunyuan, 3, "HunyuanVideo15Pipeline")
    # HunyuanVideo 1.5's plain FlowMatch scheduler cannot be told apart: without the pipeline
    # the plain schedule (1, .8335, .005 at 3 steps) answers, another stop than its pipeline's
    assert fp.mid_index(hunyuan, 3) == 1 and fp.mid_index(hunyuan, 3, sub) == 2
