"""freqlab.schedules: the noising rule of each scheduler family, noising a clean latent to any
training timestep under it, and the schedules compared by task=snr."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EDMEulerScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    UniPCMultistepScheduler,
)

from freqlab.models import get_model_spec, load_model
from freqlab.models.pretrained import build_scheduler
from freqlab.schedules import (
    REFERENCE_SNR_DB,
    SCHEDULE_NAMES,
    ZERO_SNR_DB,
    UnsupportedSchedulerError,
    compare_schedules,
    diffuse,
    diffuse_to_last_timestep,
    flow_snr_db,
    last_timestep_snr_db,
    noising_rule,
    renoise_snr_db,
    resolve_renoise_timestep,
    schedule_from_scheduler,
    shifted_sigmas,
    training_snr_db,
)


def _scheduler(model: str, **overrides):
    return build_scheduler(get_model_spec(model).scheduler, overrides)


def _latents(seed: int, shape: tuple[int, ...] = (2, 4, 3, 4, 4)) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)


# AnimateDiff's schedule (linear betas) under three noising rules, and two flow models.
DDPM_CONFIG = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="linear")
RULES = {
    "add_noise": lambda: DDIMScheduler(**DDPM_CONFIG),
    "alphas_cumprod": lambda: DPMSolverMultistepScheduler(**DDPM_CONFIG),
    "alphas_cumprod/euler": lambda: EulerDiscreteScheduler(**DDPM_CONFIG),
    "flow": lambda: FlowMatchEulerDiscreteScheduler(shift=3.0),
    "flow/unipc": lambda: UniPCMultistepScheduler(use_flow_sigmas=True, flow_shift=3.0),
    "add_noise/videocrafter2": lambda: _scheduler("videocrafter2"),
}


# --------------------------------------------------------------------------- noising


def test_noising_rules():
    config = load_model("tiny_animatediff").scheduler.config
    assert noising_rule(DDIMScheduler.from_config(config)) == "add_noise"
    assert noising_rule(DPMSolverMultistepScheduler.from_config(config)) == "alphas_cumprod"
    assert noising_rule(EulerDiscreteScheduler.from_config(config)) == "alphas_cumprod"
    assert noising_rule(FlowMatchEulerDiscreteScheduler()) == "flow"
    assert noising_rule(UniPCMultistepScheduler(use_flow_sigmas=True, flow_shift=3.0)) == "flow"
    with pytest.raises(UnsupportedSchedulerError, match="EDMEulerScheduler"):
        noising_rule(EDMEulerScheduler())


def test_add_noise_rule_is_ddim_add_noise_at_t999():
    scheduler = DDIMScheduler(**DDPM_CONFIG)
    z0, eps = _latents(4, (2, 4, 8, 8, 8))
    out = diffuse_to_last_timestep(scheduler, z0, eps)
    ref = scheduler.add_noise(z0, eps, torch.tensor([999, 999]))
    assert torch.equal(out, ref)
    a = float(scheduler.alphas_cumprod[999])
    # alpha_bar_999 of AnimateDiff's linear betas 0.00085 -> 0.012 (FreeInit noises to t = 999)
    assert a == pytest.approx(0.001579, abs=2e-6)
    torch.testing.assert_close(out, a**0.5 * z0 + (1 - a) ** 0.5 * eps)


def test_flow_matching_noising_formula():
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    z0, eps = _latents(5, (1, 4, 8, 8, 8))
    torch.testing.assert_close(diffuse_to_last_timestep(scheduler, z0, eps), 0.04 * z0 + 0.96 * eps)
    out = diffuse_to_last_timestep(scheduler, z0, eps, flow_sigma=0.5)
    torch.testing.assert_close(out, 0.5 * z0 + 0.5 * eps)
    with pytest.raises(ValueError, match="flow_sigma"):
        diffuse_to_last_timestep(scheduler, z0, eps, flow_sigma=1.0)
    with pytest.raises(ValueError, match="noise"):
        diffuse_to_last_timestep(scheduler, z0, eps[:, :2])


@pytest.mark.parametrize("name", list(RULES))
@pytest.mark.parametrize("t", [0, 321, 999])
def test_diffuse_has_the_weights_of_the_schedule(name, t):
    # z0 = 1, noise = 0 gives sqrt(signal_t); z0 = 0, noise = 1 gives sqrt(noise_t): diffuse and
    # NoiseSchedule follow one rule per scheduler (VideoCrafter2's data scale included).
    scheduler = RULES[name]()
    schedule = schedule_from_scheduler(scheduler)
    ones, zeros = torch.ones(1, 4, 2, 2, 2, dtype=torch.float64), torch.zeros(1, 4, 2, 2, 2)
    signal = diffuse(scheduler, ones, zeros.double(), t)
    noise = diffuse(scheduler, zeros.double(), ones, t)
    torch.testing.assert_close(signal, torch.full_like(ones, math.sqrt(schedule.signal[t])))
    torch.testing.assert_close(noise, torch.full_like(ones, math.sqrt(schedule.noise[t])))


def test_diffuse_follows_add_noise_and_alphas_cumprod():
    z0, eps = _latents(0)
    ddim, dpm = DDIMScheduler(**DDPM_CONFIG), DPMSolverMultistepScheduler(**DDPM_CONFIG)
    t = 321  # an intermediate timestep, as FreqPrior's partial diffusion
    timesteps = torch.full((2,), t, dtype=torch.long)
    expected = ddim.add_noise(z0, eps, timesteps)
    assert torch.equal(diffuse(ddim, z0, eps, t), expected)  # the scheduler's own rule
    a = dpm.alphas_cumprod[t]
    assert torch.equal(diffuse(dpm, z0, eps, t), a.sqrt() * z0 + (1 - a).sqrt() * eps)
    torch.testing.assert_close(diffuse(dpm, z0, eps, t), expected)  # same alphas, same result


def test_diffuse_on_a_flow_path_uses_the_training_sigma_of_t():
    z0, eps = _latents(1)
    flow = FlowMatchEulerDiscreteScheduler(shift=3.0)
    # diffusers' training sigmas, from t = 999 down to 0, independent of our shifted_sigmas
    sigmas = flow.sigmas.double().numpy()[::-1]
    for t in (0, 500, 998):
        s = float(sigmas[t])
        torch.testing.assert_close(diffuse(flow, z0, eps, t), (1 - s) * z0 + s * eps)
    np.testing.assert_allclose(shifted_sigmas(1000, 3.0), sigmas, rtol=1e-6)
    assert torch.equal(diffuse(flow, z0, eps, 999), eps)  # sigma = 1: no signal left
    assert torch.equal(diffuse(flow, z0, eps, 10, flow_sigma=0.5), 0.5 * z0 + 0.5 * eps)


@pytest.mark.parametrize("name", list(RULES))
def test_diffuse_to_last_timestep_is_the_last_case(name):
    scheduler = RULES[name]()
    z0, eps = _latents(2)
    last = scheduler.config.num_train_timesteps - 1
    sigma = 0.96 if "flow" in name else None
    expected = diffuse(scheduler, z0, eps, last, flow_sigma=sigma)
    assert torch.equal(diffuse_to_last_timestep(scheduler, z0, eps), expected)


def test_diffuse_refuses_bad_arguments():
    ddim = DDIMScheduler(**DDPM_CONFIG)
    z0, eps = _latents(3)
    for bad in (-1, 1000, 2.5, True):
        with pytest.raises(ValueError, match="timestep"):
            diffuse(ddim, z0, eps, bad)
    with pytest.raises(ValueError, match="noise must have the shape of z0"):
        diffuse(ddim, z0, eps[:1], 10)
    with pytest.raises(ValueError, match="flow_sigma"):
        diffuse(FlowMatchEulerDiscreteScheduler(), z0, eps, 10, flow_sigma=1.0)


# --------------------------------------------------------------------------- schedules


def test_schedules_of_an_animatediff_model():
    schedules, skipped = compare_schedules(_scheduler("tiny_animatediff"), num_inference_steps=10)
    assert skipped == {}
    by = {s.name: s for s in schedules}
    assert list(by) == list(SCHEDULE_NAMES)
    # Computed from the betas (AnimateDiff's linear 0.00085 -> 0.012, and SD's scaled_linear):
    # linear alpha_bar_999 = 0.001579 (-28.0 dB), scaled_linear 0.004660 (-23.3 dB).
    assert by["model"].signal[999] == pytest.approx(0.001579, abs=1e-6)
    assert by["model"].global_snr_db([999])[0] == pytest.approx(-28.0, abs=0.05)
    assert by["scaled_linear"].signal[999] == pytest.approx(0.004660, abs=1e-6)
    assert by["scaled_linear"].global_snr_db([999])[0] == pytest.approx(-23.3, abs=0.05)
    np.testing.assert_array_equal(by["linear"].signal, by["model"].signal)
    assert all(s.first_timestep == 999 for s in schedules if s.kind == "ddpm")  # linspace


def test_standard_schedules_of_a_zero_snr_model_are_the_standard_ones():
    # CogVideoX's own schedule is scaled_linear, SNR-shifted by 3 and rescaled to zero terminal
    # SNR; the comparison schedules "linear" / "scaled_linear" are the plain ones, so they keep
    # AnimateDiff's -28.0 dB and SD's -23.3 dB at t = 999 where the model's has none.
    schedules, skipped = compare_schedules(_scheduler("cogvideox_2b"), num_inference_steps=10)
    by = {s.name: s for s in schedules}
    assert by["model"].signal[999] == 0 and by["zero_snr"].signal[999] == 0
    assert by["linear"].global_snr_db([999])[0] == pytest.approx(-28.0, abs=0.05)
    assert by["scaled_linear"].global_snr_db([999])[0] == pytest.approx(-23.3, abs=0.05)


def test_euler_zero_snr_keeps_the_documented_floor():
    # EulerDiscreteScheduler clamps the last alpha_bar to 2**-24 instead of 0: a finite floor.
    euler = _scheduler("animatediff", _class_name="EulerDiscreteScheduler")
    schedules, _ = compare_schedules(euler, ["zero_snr"], num_inference_steps=10)
    floor = 10 * math.log10(2**-24 / (1 - 2**-24))
    assert schedules[0].global_snr_db([999])[0] == pytest.approx(floor)  # -72.2 dB


def test_first_sampling_timestep_follows_the_spacing():
    schedules, _ = compare_schedules(_scheduler("modelscope"), ["model", "zero_snr"], 50)
    assert [s.first_timestep for s in schedules] == [981, 981]  # "leading": 49 * 20 + 1
    assert schedules[1].first_signal > 0  # zero SNR at 999, but sampling starts at 981


def test_videocrafter_data_scale_enters_the_signal():
    (model,), _ = compare_schedules(_scheduler("videocrafter2"), ["model"], 50)
    alphas = _scheduler("videocrafter2").alphas_cumprod.double().numpy()
    assert model.signal[999] == pytest.approx(alphas[999] * 0.7**2)
    assert model.signal[0] == pytest.approx(alphas[0])


def test_flow_schedules():
    from diffusers import FlowMatchEulerDiscreteScheduler

    wan = _scheduler("wan21_t2v_1_3b")  # UniPC with flow sigmas, shift 3
    schedules, skipped = compare_schedules(wan, num_inference_steps=50)
    assert "zero_snr" in skipped and [s.name for s in schedules] == [
        "model",
        "linear",
        "scaled_linear",
        "flow",
    ]
    by = {s.name: s for s in schedules}
    assert by["model"].kind == by["flow"].kind == "flow"
    assert by["linear"].kind == "ddpm"
    reference = FlowMatchEulerDiscreteScheduler(shift=3.0).sigmas.double().numpy()[::-1]
    np.testing.assert_allclose(np.sqrt(by["flow"].noise), reference, rtol=1e-6)  # model's shift
    assert 0.99 < math.sqrt(by["model"].first_noise) <= 1.0
    (plain,), _ = compare_schedules(wan, ["flow"], 50, flow_shift=1.0)
    assert math.sqrt(plain.noise[499]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="schedules"):
        compare_schedules(wan, ["cosine"])


# --------------------------------------------------------------------------- re-noising target


def _snr_db(scheduler, t: int) -> float:
    return float(schedule_from_scheduler(scheduler).global_snr_db([t])[0])


def test_reference_snr_is_animatediff_t999():
    assert _snr_db(DDIMScheduler(**DDPM_CONFIG), 999) == pytest.approx(REFERENCE_SNR_DB, abs=0.01)


# Zero-terminal-SNR schedules: AnimateDiff's betas rescaled (v-prediction, as the issue's
# measurement), SD's scaled_linear betas rescaled, CogVideoX's DDIM (scaled_linear, rescaled,
# SNR shifted by the class default snr_shift_scale=3) and Euler's 2**-24 floor (-72.2 dB). The
# timestep at -28 dB: computed from the betas (881, 923, 877; Euler's rescaled linear as DDIM's).
ZERO_SNR = {
    "ddim_linear": (
        lambda: DDIMScheduler(
            **DDPM_CONFIG, rescale_betas_zero_snr=True, prediction_type="v_prediction"
        ),
        881,
    ),
    "ddim_scaled_linear": (
        lambda: DDIMScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            rescale_betas_zero_snr=True,
        ),
        923,
    ),
    "cogvideox_ddim": (
        lambda: __import__("diffusers").CogVideoXDDIMScheduler(
            rescale_betas_zero_snr=True, prediction_type="v_prediction"
        ),
        877,
    ),
    "euler_floor": (
        lambda: EulerDiscreteScheduler(**DDPM_CONFIG, rescale_betas_zero_snr=True),
        881,
    ),
}


@pytest.mark.parametrize("name", list(ZERO_SNR))
def test_auto_renoises_to_the_reference_snr_on_zero_snr_schedules(name):
    make, expected = ZERO_SNR[name]
    scheduler = make()
    assert last_timestep_snr_db(scheduler) < ZERO_SNR_DB
    t = resolve_renoise_timestep(scheduler)
    assert t == expected
    assert _snr_db(scheduler, t) == pytest.approx(REFERENCE_SNR_DB, abs=0.1)
    # The nearest in dB: its neighbours are further from -28 dB.
    assert all(
        abs(_snr_db(scheduler, n) - REFERENCE_SNR_DB)
        >= abs(_snr_db(scheduler, t) - REFERENCE_SNR_DB)
        for n in (t - 1, t + 1)
    )
    z0, eps = _latents(6)
    out = diffuse_to_last_timestep(scheduler, z0, eps)
    assert torch.equal(out, diffuse(scheduler, z0, eps, t))
    # It keeps z0 with the reference's weight sqrt(alpha_bar) ~ 0.04, where t = 999 keeps none.
    a = float(scheduler.alphas_cumprod[t])
    assert math.sqrt(a) == pytest.approx(math.sqrt(0.001579), rel=0.02)
    last = diffuse_to_last_timestep(scheduler, z0, eps, renoise_timestep="last")
    if name != "euler_floor":  # exactly pure noise (Euler keeps 2**-12 of z0)
        torch.testing.assert_close(last, eps, rtol=0, atol=1e-6)
    assert resolve_renoise_timestep(scheduler, 900) == 900


STANDARD = {**RULES, "scaled_linear": lambda: _scheduler("modelscope")}


@pytest.mark.parametrize("name", list(STANDARD))
def test_auto_keeps_the_last_timestep_on_standard_schedules(name):
    scheduler = STANDARD[name]()
    assert resolve_renoise_timestep(scheduler) == 999
    assert resolve_renoise_timestep(scheduler, "last") == 999
    z0, eps = _latents(7)
    sigma = 0.96 if "flow" in name else None
    expected = diffuse(scheduler, z0, eps, 999, flow_sigma=sigma)
    for rule in ("auto", "last"):
        assert torch.equal(
            diffuse_to_last_timestep(scheduler, z0, eps, renoise_timestep=rule), expected
        )
    if "flow" in name:  # flow_sigma sets the level: the rule does not apply
        assert resolve_renoise_timestep(scheduler, 500) == 999
        assert torch.equal(
            diffuse_to_last_timestep(scheduler, z0, eps, renoise_timestep=500), expected
        )


def test_ddpm_linear_betas_are_not_zero_snr():
    # DDPM's linear 1e-4 -> 0.02 ends at -43.9 dB: low, but not zero; auto leaves it alone.
    ddpm = DDIMScheduler(beta_start=1e-4, beta_end=0.02, beta_schedule="linear")
    assert last_timestep_snr_db(ddpm) == pytest.approx(-43.9, abs=0.1)
    assert resolve_renoise_timestep(ddpm) == 999


# SNR at the last training timestep of each registry model's schedule (the values README's FreeInit
# section quotes); flow matching ends at sigma = 1.
REGISTRY_LAST_SNR_DB = {
    "animatediff": -28.01,
    "animatediff_v1": -28.01,
    "animatediff_sdxl": -28.01,
    "modelscope": -23.30,
    "zeroscope": -23.30,
    "videocrafter2": -26.39,
    "wan21_t2v_1_3b": -math.inf,
}


@pytest.mark.parametrize("model", list(REGISTRY_LAST_SNR_DB))
def test_last_timestep_snr_of_registry_models(model):
    scheduler = _scheduler(model)
    snr = last_timestep_snr_db(scheduler)
    expected = REGISTRY_LAST_SNR_DB[model]
    if math.isinf(expected):
        assert snr == expected and noising_rule(scheduler) == "flow"
    else:
        assert snr == pytest.approx(expected, abs=0.01)
        assert snr == pytest.approx(_snr_db(scheduler, 999))  # as task=snr's schedule says
    assert resolve_renoise_timestep(scheduler) == 999


@pytest.mark.parametrize(
    ("rule", "match"),
    [
        ("first", r"renoise_timestep must be auto, last or an int timestep, got 'first'"),
        (-1, r"renoise_timestep must be auto, last or an int timestep, got -1"),
        (True, r"renoise_timestep must be auto, last or an int"),
        (2.5, r"renoise_timestep must be auto, last or an int"),
        (1000, r"renoise_timestep must be in \[0, 999\], got 1000"),
    ],
)
def test_renoise_timestep_refuses_bad_values(rule, match):
    with pytest.raises(ValueError, match=match):
        resolve_renoise_timestep(DDIMScheduler(**DDPM_CONFIG), rule)
    z0, eps = _latents(8)
    with pytest.raises(ValueError, match="renoise_timestep"):
        diffuse_to_last_timestep(DDIMScheduler(**DDPM_CONFIG), z0, eps, renoise_timestep=rule)


def test_freqprior_renoises_z_mid_to_the_same_target():
    # FreqPrior's partial diffusion z_T = sqrt(s) z_mid + sqrt(1 - s) eps with
    # s = alpha_bar[target] / alpha_bar[mid]: target 881 on the zero-SNR schedule (s = 0 at 999).
    from freqlab.freqprior import _inference_schedule, renoise_from_mid

    s = _inference_schedule(ZERO_SNR["ddim_linear"][0](), 25)
    index = 16  # timestep 320 (leading spacing, steps_offset 0)
    mid = int(s.timesteps[index])
    z, eps = _latents(9)
    ratio = (s.alphas_cumprod[881] / s.alphas_cumprod[mid]).item()
    expected = math.sqrt(ratio) * z + math.sqrt(1 - ratio) * eps
    torch.testing.assert_close(renoise_from_mid(s, z, eps, index), expected)
    torch.testing.assert_close(renoise_from_mid(s, z, eps, index, renoise_timestep="last"), eps)
    with pytest.raises(ValueError, match="renoise_timestep 200 is less noisy than mid_step"):
        renoise_from_mid(s, z, eps, index, renoise_timestep=200)
    standard = _inference_schedule(DDIMScheduler(**DDPM_CONFIG), 25)
    assert torch.equal(
        renoise_from_mid(standard, z, eps, index),
        renoise_from_mid(standard, z, eps, index, renoise_timestep=999),
    )


# --------------------------------------------------------------------------- measured levels


def _measured_snr_db(scheduler, t: int, flow_sigma: float | None = None) -> float:
    """The SNR of what diffuse() produces at t, read off its two weights (z0 = 1 / eps = 1)."""
    one, zero = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    signal = float(diffuse(scheduler, one, zero, t, flow_sigma=flow_sigma))
    noise = float(diffuse(scheduler, zero, one, t, flow_sigma=flow_sigma))
    with np.errstate(divide="ignore"):
        return float(20.0 * np.log10(abs(signal) / noise))


@pytest.mark.parametrize("name", list(RULES))
def test_training_snr_db_is_the_snr_diffuse_produces(name):
    scheduler = RULES[name]()
    snr = training_snr_db(scheduler)
    assert snr.shape == (1000,) and snr.dtype == np.float64
    for t in (0, 500, 998):
        assert snr[t] == pytest.approx(_measured_snr_db(scheduler, t), abs=1e-6)
    assert snr[-1] == last_timestep_snr_db(scheduler)
    assert np.all(np.diff(snr) < 0)  # noisier timestep by timestep


def test_flow_snr_db():
    assert flow_snr_db(0.5) == 0.0
    assert flow_snr_db(0.96) == pytest.approx(-27.60, abs=0.01)  # the reference's -28 dB, near
    assert flow_snr_db(1.0) == -math.inf
    values = flow_snr_db(np.array([0.5, 1.0]))
    assert isinstance(values, np.ndarray) and values.tolist() == [0.0, -math.inf]


@pytest.mark.parametrize("name", list(ZERO_SNR))
def test_renoise_snr_db_on_zero_snr_schedules(name):
    scheduler = ZERO_SNR[name][0]()
    t = resolve_renoise_timestep(scheduler)
    assert renoise_snr_db(scheduler) == pytest.approx(_measured_snr_db(scheduler, t), abs=1e-6)
    assert renoise_snr_db(scheduler) == pytest.approx(REFERENCE_SNR_DB, abs=0.1)
    assert renoise_snr_db(scheduler, "last") == last_timestep_snr_db(scheduler)


@pytest.mark.parametrize("name", list(STANDARD))
def test_renoise_snr_db_on_standard_schedules(name):
    scheduler = STANDARD[name]()
    if noising_rule(scheduler) == "flow":  # flow_sigma sets the level, whatever the rule
        for rule in ("auto", "last", 500):
            assert renoise_snr_db(scheduler, rule, 0.9) == flow_snr_db(0.9)
        assert renoise_snr_db(scheduler) == pytest.approx(
            _measured_snr_db(scheduler, 999, flow_sigma=0.96), abs=1e-6
        )
    else:
        assert renoise_snr_db(scheduler) == last_timestep_snr_db(scheduler)
        assert renoise_snr_db(scheduler, 500) == training_snr_db(scheduler)[500]
    with pytest.raises(ValueError, match="flow_sigma"):
        renoise_snr_db(scheduler, flow_sigma=1.0)


def test_inverted_sigmas_first_step_is_read_as_a_noise_level():
    # Mochi's scheduler counts sigma 0 -> 1 as the noise goes 1 -> 0: its first step is pure
    # noise (sigma 1, timestep 1000 in noise units), as the plain flow path's.
    inverted = FlowMatchEulerDiscreteScheduler(shift=1.0, invert_sigmas=True)
    plain = FlowMatchEulerDiscreteScheduler(shift=1.0)
    a, b = schedule_from_scheduler(inverted, num_inference_steps=8), schedule_from_scheduler(plain)
    assert (a.first_signal, a.first_noise, a.first_timestep) == (0.0, 1.0, 1000.0)
    assert (a.first_signal, a.first_noise, a.first_timestep) == (
        b.first_signal,
        b.first_noise,
        b.first_timestep,
    )
    np.testing.assert_array_equal(a.signal, b.signal)
