"""ByTheWay: the map edits against an independent reference (energy, β, enhancement, TSG blending),
the processors inside tiny pipelines against a reference built from the attentions' own inputs,
plain-sampling equality at α = 0, β = 1, restoration, step and CFG handling, errors, defaults."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import UNet3DConditionModel
from diffusers.models.attention_processor import AttnProcessor2_0

from freqlab.bytheway import (
    ByTheWay,
    attention_energy,
    edit_attention,
    frequency_energy,
    guide_maps,
    high_frequency_bins,
    motion_enhance,
    resize_maps,
    select_beta,
    self_guidance,
)
from freqlab.freenoise import FreeNoise
from freqlab.freeu import FreeU
from freqlab.models.specs import MODELS
from freqlab.models.tiny import UNET3D_CONFIG, tiny_stable_diffusion

CALL = dict(height=32, width=32, output_type="latent")
# Tiny random networks give latents of magnitude ~50; the explicit softmax (vs SDPA) and the
# FFT round trip differ from plain attention by float32 rounding (~1e-7 per op), which the
# network amplifies to ~1e-6 of the latents' scale after a few steps. Real edits move them by
# 1e-2 of that scale or more.
FLOAT_NOISE = 1e-5


def run(pipe, num_frames=16, steps=2, guidance=7.5, seed=0, **kwargs) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return pipe(
        prompt="a corgi running",
        num_frames=num_frames,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=generator,
        **CALL,
        **kwargs,
    ).frames


def with_two_temporal_up_blocks(pipe):
    """tiny_modelscope's UNet3D has temporal attention in one decoder block (UpBlock3D has none);
    the same tiny config with two cross-attention up blocks has two, as ModelScope has three."""
    torch.manual_seed(2)
    pipe.unet = UNet3DConditionModel(
        **dict(
            UNET3D_CONFIG,
            down_block_types=("CrossAttnDownBlock3D",) * 2,
            up_block_types=("CrossAttnUpBlock3D",) * 2,
        )
    )
    return pipe


@pytest.fixture
def tiny_modelscope2(tiny_modelscope):
    return with_two_temporal_up_blocks(tiny_modelscope)


# --------------------------------------------------------------------------- the reference
# Written from the official README's formulas with numpy and explicit DFT matrices (float64);
# nothing here calls freqlab.bytheway.


def ref_high_bins(num_frames: int, tau: int) -> list[int]:
    centre = num_frames // 2
    return [k for k in range(num_frames) if centre - tau <= k <= centre + tau]


def dft(num_frames: int) -> np.ndarray:
    j = np.arange(num_frames)
    return np.exp(-2j * np.pi * np.outer(j, j) / num_frames)  # X = x @ W


def ref_energy(a: np.ndarray, cfg: bool) -> float:
    rows = a.reshape(2, -1, *a.shape[1:])[1] if cfg else a
    return float((rows**2).sum(-1).mean())


def ref_split(a: np.ndarray, tau: int, cfg: bool) -> tuple[float, float]:
    num_frames = a.shape[-1]
    rows = a.reshape(2, -1, *a.shape[1:])[1] if cfg else a
    power = np.abs(rows @ dft(num_frames)) ** 2
    high = ref_high_bins(num_frames, tau)
    low = [k for k in range(num_frames) if k not in high]
    return (
        float(power[..., high].sum(-1).mean() / num_frames),
        float(power[..., low].sum(-1).mean() / num_frames),
    )


def ref_beta(beta: float, e1: float, e_low: float, e_high: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        beta_c = float(np.sqrt(np.float64(e1 - e_low) / np.float64(e_high)))
    # max(beta, beta_c) in Python keeps beta unless beta_c > beta (NaN compares False); an
    # infinite beta_c falls back too (freqlab's documented deviation).
    return beta_c if math.isfinite(beta_c) and beta_c > beta else beta


def ref_enhance(a: np.ndarray, tau: int, beta: float, clamp: bool) -> np.ndarray:
    num_frames = a.shape[-1]
    w = dft(num_frames)
    x = a @ w
    x[..., ref_high_bins(num_frames, tau)] *= beta
    out = (x @ np.conj(w) / num_frames).real
    if clamp:
        out = out * (out > 0)
    return out / out.sum(-1, keepdims=True)


def ref_upsample(g: np.ndarray, size, factor: int, heads: int, target_heads=None) -> np.ndarray:
    """Nearest upsampling by an integer factor over (h, w) of rows ordered (b, y, x, head); with
    ``target_heads``, every target head takes the mean over the guide's heads."""
    h, w = size
    f = g.shape[-1]
    grid = g.reshape(-1, h, w, heads, f, f)
    if target_heads is not None:
        grid = np.repeat(grid.mean(3, keepdims=True), target_heads, axis=3)
    grid = grid.repeat(factor, axis=1).repeat(factor, axis=2)
    return grid.reshape(-1, f, f)


def ref_edit(a, guide, tau, alpha, beta, clamp, cfg):
    e1 = ref_energy(a, cfg)
    if guide is not None:
        a = a + alpha * (guide - a)
    e_high, e_low = ref_split(a, tau, cfg)
    used = ref_beta(beta, e1, e_low, e_high)
    return ref_enhance(a, tau, used, clamp), used


def random_maps(rows: int, num_frames: int, seed: int, sharp: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(sharp * torch.randn(rows, num_frames, num_frames, generator=g), -1)


def exact_maps(rows: int, num_frames: int, seed: int) -> torch.Tensor:
    """float64 maps whose rows sum to 1 to float64 precision."""
    a = random_maps(rows, num_frames, seed).double()
    return a / a.sum(-1, keepdim=True)


# --------------------------------------------------------------------------- single maps


def test_high_frequency_bins_are_the_officials_unshifted_set():
    assert high_frequency_bins(16, 7) == list(range(1, 16))  # every bin but DC
    assert high_frequency_bins(16, 0) == [8]  # Nyquist
    assert high_frequency_bins(8, 3) == list(range(1, 8))
    assert high_frequency_bins(15, 7) == list(range(15))  # odd F: the largest tau covers DC
    for f, tau in [(16, 7), (16, 3), (8, 2), (15, 5), (2, 0)]:
        assert high_frequency_bins(f, tau) == ref_high_bins(f, tau)
        assert len(high_frequency_bins(f, tau)) == 2 * tau + 1


@pytest.mark.parametrize(
    ("num_frames", "tau", "cfg"), [(16, 7, True), (16, 3, False), (15, 5, True)]
)
def test_energies_match_the_reference(num_frames, tau, cfg):
    a = random_maps(2 * 12, num_frames, seed=1)
    rows = slice(12, None) if cfg else slice(None)
    an = a.double().numpy()
    assert attention_energy(a, rows).item() == pytest.approx(ref_energy(an, cfg), rel=1e-6)
    high, low = frequency_energy(a, tau, rows)
    ref_high, ref_low = ref_split(an, tau, cfg)
    assert high.item() == pytest.approx(ref_high, rel=1e-5)
    assert low.item() == pytest.approx(ref_low, rel=1e-5)
    # Parseval: the split adds up to the energy.
    assert (high + low).item() == pytest.approx(ref_energy(an, cfg), rel=1e-5)


def test_low_energy_is_one_over_f_when_only_dc_is_low():
    # With F = 16, tau = 7 the low band is DC alone, whose power is (row sum)^2 = 1: E_l = 1/16.
    _, low = frequency_energy(exact_maps(10, 16, seed=2), 7)
    assert low.item() == pytest.approx(1 / 16, abs=1e-12)


def test_beta_is_max_of_user_and_energy_rule_with_nan_and_inf_fallbacks():
    t = torch.tensor
    # beta_c = sqrt((0.5 - 0.1) / 0.1) = 2 > 1.5
    assert select_beta(1.5, t(0.5), t(0.1), t(0.1)).item() == pytest.approx(2.0)
    assert select_beta(3.0, t(0.5), t(0.1), t(0.1)).item() == pytest.approx(3.0)
    # E1 < E2_l: sqrt of a negative number, NaN -> the user's beta (Python max semantics)
    assert select_beta(1.5, t(0.05), t(0.1), t(0.1)).item() == 1.5
    # E2_h = 0: infinite beta_c -> the user's beta
    assert select_beta(1.5, t(0.5), t(0.1), t(0.0)).item() == 1.5
    for args in [(1.5, 0.5, 0.1, 0.1), (1.5, 0.05, 0.1, 0.1), (1.0, 0.3, 0.1, 0.05)]:
        got = select_beta(args[0], *(t(x, dtype=torch.float64) for x in args[1:])).item()
        assert got == pytest.approx(ref_beta(*args))


@pytest.mark.parametrize(
    ("num_frames", "tau", "beta", "clamp"),
    [(16, 7, 1.5, False), (16, 7, 10.0, True), (16, 2, 3.0, False), (15, 6, 2.0, False)],
)
def test_motion_enhance_matches_the_reference(num_frames, tau, beta, clamp):
    a = random_maps(20, num_frames, seed=3)
    out = motion_enhance(a, tau, beta, clamp)
    ref = ref_enhance(a.double().numpy(), tau, beta, clamp)
    np.testing.assert_allclose(out.numpy(), ref, atol=2e-6)
    np.testing.assert_allclose(out.sum(-1).numpy(), 1.0, atol=1e-5)
    if clamp:
        assert (out >= 0).all()


def test_without_clamp_negative_weights_survive_and_rows_still_sum_to_one():
    a = exact_maps(20, 16, seed=4)
    out = motion_enhance(a, 7, 10.0)
    assert (out < 0).any()  # ByTheWay's README dropped BroadWay v1's clamp
    np.testing.assert_allclose(out.sum(-1).numpy(), 1.0, atol=1e-12)
    # DC is untouched, so the row sum (the DC bin) is 1 before the renormalisation too: the
    # enhancement is 1/F + beta·(A - 1/F) for tau = 7 at F = 16.
    np.testing.assert_allclose(out.numpy(), (1 / 16 + 10 * (a - 1 / 16)).numpy(), atol=1e-12)


@pytest.mark.parametrize("cfg", [True, False])
@pytest.mark.parametrize("clamp", [False, True])
def test_edit_attention_matches_the_reference(cfg, clamp):
    a = random_maps(2 * 16, 16, seed=5)
    guide = random_maps(2 * 16, 16, seed=6, sharp=1.0)
    rows = slice(16, None) if cfg else slice(None)
    out, beta = edit_attention(a, guide, tau=7, alpha=0.6, beta=1.5, clamp=clamp, rows=rows)
    ref, ref_b = ref_edit(a.double().numpy(), guide.double().numpy(), 7, 0.6, 1.5, clamp, cfg)
    assert beta.item() == pytest.approx(ref_b, rel=1e-5)
    np.testing.assert_allclose(out.numpy(), ref, atol=2e-6)


def test_alpha_zero_gives_beta_c_one_and_beta_one_leaves_the_maps():
    a = exact_maps(2 * 16, 16, seed=7)
    out, beta = edit_attention(a, None, tau=7, alpha=0.0, beta=1.0, rows=slice(16, None))
    assert beta.item() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(out.numpy(), a.numpy(), atol=1e-12)


def test_self_guidance_blends_toward_the_nearest_upsampled_guide():
    heads, f = 2, 8
    guide = random_maps(2 * 2 * 3 * heads, f, seed=8)  # B = 2, (h, w) = (2, 3)
    a = random_maps(2 * 4 * 6 * heads, f, seed=9)  # (h, w) = (4, 6)
    up = resize_maps(guide, (2, 3), (4, 6), heads, "nearest")
    ref_up = ref_upsample(guide.numpy(), (2, 3), 2, heads)
    np.testing.assert_array_equal(up.numpy(), ref_up)
    out = self_guidance(a, up, 0.25)
    np.testing.assert_allclose(out.numpy(), a.numpy() + 0.25 * (ref_up - a.numpy()), atol=1e-7)
    np.testing.assert_allclose(out.sum(-1).numpy(), 1.0, atol=1e-6)  # still row-stochastic


def test_guide_maps_per_head_or_head_mean():
    f = 4
    guide = random_maps(2 * 2 * 2 * 8, f, seed=11)  # B = 2, (h, w) = (2, 2), 8 heads
    same = guide_maps(guide, (2, 2), 8, (4, 4), 8)
    np.testing.assert_array_equal(same.numpy(), ref_upsample(guide.numpy(), (2, 2), 2, 8))
    fewer = guide_maps(guide, (2, 2), 8, (4, 4), 4)  # 8 -> 4 heads: the mean over the 8
    ref = ref_upsample(guide.numpy(), (2, 2), 2, 8, target_heads=4)
    np.testing.assert_allclose(fewer.numpy(), ref, atol=1e-7)
    mean = guide_maps(guide, (2, 2), 8, (4, 4), 8, head_mean=True)
    ref = ref_upsample(guide.numpy(), (2, 2), 2, 8, target_heads=8)
    np.testing.assert_allclose(mean.numpy(), ref, atol=1e-7)


def test_resize_maps_area_downsampling_averages_blocks_and_same_size_is_identity():
    heads, f = 3, 4
    maps = random_maps(1 * 4 * 4 * heads, f, seed=10)
    down = resize_maps(maps, (4, 4), (2, 2), heads, "area")
    ref = maps.numpy().reshape(1, 2, 2, 2, 2, heads, f, f).mean(axis=(2, 4)).reshape(-1, f, f)
    np.testing.assert_allclose(down.numpy(), ref, atol=1e-7)
    assert resize_maps(maps, (4, 4), (4, 4), heads, "bilinear") is maps


# --------------------------------------------------------------------------- inside pipelines


def attention_io(unet, names):
    """Forward hooks recording each named attention's first input and output."""
    seen, hooks = {}, []
    modules = dict(unet.named_modules())
    for name in names:

        def hook(module, args, kwargs, output, name=name):
            seen.setdefault(name, (args[0].detach().clone(), output.detach().clone()))

        hooks.append(modules[name].register_forward_hook(hook, with_kwargs=True))
    return seen, hooks


def ref_attention(attn, x):
    """softmax(QKᵀ·scale) per head, ``(N·heads, F, F)`` with heads innermost, and the values."""
    n, f, c = x.shape
    heads = attn.heads

    def split(t):
        return t.reshape(n, f, heads, c // heads).permute(0, 2, 1, 3).reshape(n * heads, f, -1)

    q, k, v = split(attn.to_q(x)), split(attn.to_k(x)), split(attn.to_v(x))
    return torch.softmax(q @ k.transpose(1, 2) * attn.scale, -1).double(), v


def ref_attention_output(attn, probs, v, x):
    n, f, c = x.shape
    out = (probs.float() @ v).reshape(n, attn.heads, f, -1).permute(0, 2, 1, 3).reshape(n, f, c)
    return attn.to_out[0](out)


@pytest.mark.parametrize(
    ("model", "pairing", "guide_map", "guidance", "clamp", "head_pairing"),
    [
        ("tiny_animatediff", "module", "raw", 7.5, False, "auto"),
        ("tiny_animatediff", "block_mean", "enhanced", 1.0, True, "auto"),
        ("tiny_animatediff", "module", "raw", 7.5, False, "mean"),
        ("tiny_modelscope2", "module", "raw", 7.5, False, "auto"),  # 8 -> 4 heads: the mean
    ],
)
def test_processors_match_the_reference_in_a_pipeline(
    model, pairing, guide_map, guidance, clamp, head_pairing, request
):
    # guide_block=0: the tiny UNet's up_blocks.0 (4x4) guides up_blocks.1 (8x8). One step with
    # fraction 1: the UNet call is active; guidance 1.0 is CFG off (energy on every row).
    pipe = request.getfixturevalue(model)
    method = ByTheWay(
        tau=7, alpha=0.6, beta=1.5, fraction=1.0, guide_block=0, pairing=pairing,
        guide_map=guide_map, clamp=clamp, head_pairing=head_pairing,
    )  # fmt: skip
    sites = method.sites(pipe)
    assert [s.up_block for s in sites] == [0] * 4 + [1] * 4
    seen, hooks = attention_io(pipe.unet, [s.name for s in sites])
    try:
        with method.apply(pipe) as handle:
            run(pipe, steps=1, guidance=guidance)
        assert (handle.unet_calls, handle.active_calls) == (1, 1)
    finally:
        for h in hooks:
            h.remove()
    modules = dict(pipe.unet.named_modules())
    cfg = guidance > 1
    cached, guide_heads = {}, {}
    with torch.no_grad():
        for site in sites:
            attn, (x, output) = modules[site.name], seen[site.name]
            probs, v = ref_attention(attn, x)
            guide = None
            if site.role == "target":
                maps = [cached[g] for g in site.guided_by]
                small = sum(maps) / len(maps)
                heads = guide_heads[site.guided_by[0]]
                mean = heads != attn.heads or head_pairing == "mean"
                guide = ref_upsample(small, (4, 4), 2, heads, attn.heads if mean else None)
            edited, _ = ref_edit(probs.numpy(), guide, 7, 0.6, 1.5, clamp, cfg)
            if site.role == "guide":
                cached[site.name] = edited if guide_map == "enhanced" else probs.numpy()
                guide_heads[site.name] = attn.heads
            ref = ref_attention_output(attn, torch.from_numpy(edited), v, x)
            torch.testing.assert_close(output, ref, atol=2e-5, rtol=1e-4)
    if pairing == "module":
        assert sites[4].guided_by == (sites[0].name,)
    else:
        assert sites[4].guided_by == (sites[0].name, sites[2].name)  # attn1 of both modules


@pytest.mark.parametrize("model", ["tiny_animatediff", "tiny_modelscope2"])
def test_identity_settings_equal_plain_sampling_defaults_differ_and_exit_restores(model, request):
    pipe = request.getfixturevalue(model)
    processors = dict(pipe.unet.attn_processors)
    hooks = len(pipe.unet._forward_pre_hooks)
    plain = run(pipe)
    with ByTheWay(alpha=0.0, beta=1.0, fraction=1.0).apply(pipe) as handle:
        identity = run(pipe)
    assert handle.active_calls == 2
    scale = plain.abs().max().item()
    assert (identity - plain).abs().max().item() <= FLOAT_NOISE * scale
    with ByTheWay().apply(pipe):
        edited = run(pipe)
    assert (edited - plain).abs().max().item() > 1e-3 * scale
    with ByTheWay(guide_block=0, alpha=1.0).apply(pipe):  # TSG on the tiny UNet: guide up 0
        guided = run(pipe)
    assert (guided - edited).abs().max().item() > 1e-3 * scale
    after = run(pipe)
    assert torch.equal(after, plain)
    assert all(pipe.unet.attn_processors[k] is v for k, v in processors.items())
    assert len(pipe.unet._forward_pre_hooks) == hooks
    assert not handle.active
    handle.remove()  # idempotent


def test_exit_restores_after_an_exception(tiny_animatediff):
    pipe = tiny_animatediff
    processors = dict(pipe.unet.attn_processors)
    with pytest.raises(ValueError, match="tau"):
        with ByTheWay(tau=7).apply(pipe):
            run(pipe, num_frames=8)  # tau 7 needs F >= 16
    assert all(pipe.unet.attn_processors[k] is v for k, v in processors.items())
    with ByTheWay(tau=3).apply(pipe):  # the UNet is free again
        run(pipe, num_frames=8, steps=1)


def test_the_first_fraction_of_each_pipeline_call_is_edited(tiny_animatediff):
    pipe = tiny_animatediff
    method = ByTheWay(tau=3, fraction=0.2)
    with method.apply(pipe) as handle:
        run(pipe, num_frames=8, steps=10)
        assert (handle.unet_calls, handle.active_calls) == (10, 2)
        run(pipe, num_frames=8, steps=5, guidance=1.0)  # the count restarts per call; CFG off
        assert (handle.unet_calls, handle.active_calls) == (15, 3)
    assert [ByTheWay(fraction=x).active_steps(n) for x, n in [(0.2, 25), (0.3, 10)]] == [5, 3]
    assert [ByTheWay(fraction=x).active_steps(n) for x, n in [(0.25, 10), (1.0, 7)]] == [3, 7]
    assert ByTheWay(fraction=0.01).active_steps(10) == 1
    timesteps = torch.tensor([901, 801, 701, 601, 501, 401, 301, 201, 101, 1])
    active = [method.is_active(t, timesteps) for t in timesteps]
    assert active == [True, True] + [False] * 8


def test_cfg_off_works_and_differs_from_plain(tiny_modelscope2):
    pipe = tiny_modelscope2
    plain = run(pipe, guidance=1.0)
    with ByTheWay().apply(pipe) as handle:
        edited = run(pipe, guidance=1.0)
    assert handle.active_calls == 1 and torch.isfinite(edited).all()
    assert (edited - plain).abs().max() > 1e-3 * plain.abs().max()


def test_composes_with_freeu_and_freenoise_windows(tiny_animatediff):
    pipe = tiny_animatediff
    processors = dict(pipe.unet.attn_processors)
    plain = run(pipe, num_frames=24)
    with (
        FreeNoise(context_length=16, context_stride=4).apply(pipe),
        FreeU(1.2, 1.4, 0.9, 0.2).apply(pipe),
    ):
        base = run(pipe, num_frames=24)
        # guide_block=0 exercises the per-window guide maps (one per window, in call order).
        with ByTheWay(guide_block=0).apply(pipe) as handle:
            both = run(pipe, num_frames=24)
    assert handle.active_calls == 1
    assert (both - base).abs().max() > 1e-3 * base.abs().max()
    assert torch.equal(run(pipe, num_frames=24), plain)
    assert all(pipe.unet.attn_processors[k] is v for k, v in processors.items())


def test_sites_name_the_edited_attentions(tiny_animatediff, tiny_modelscope2):
    sites = ByTheWay().sites(tiny_animatediff)
    assert [s.name for s in sites] == [
        f"up_blocks.1.motion_modules.{m}.transformer_blocks.0.{slot}"
        for m in (0, 1)
        for slot in ("attn1", "attn2")
    ]
    assert {s.role for s in sites} == {"guide"}  # the guide block itself: enhancement only
    sites = ByTheWay(guide_block=0).sites(tiny_modelscope2)
    assert sites[-1].name == "up_blocks.1.temp_attentions.1.transformer_blocks.0.attn2"
    assert sites[-1].guided_by == ("up_blocks.0.temp_attentions.1.transformer_blocks.0.attn2",)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(tau=-1), r"^tau must be an int >= 0, got -1"),
        (dict(tau=2.0), r"^tau must be an int"),
        (dict(alpha=1.5), r"^alpha must be in \[0, 1\], got 1.5"),
        (dict(alpha=-0.1), r"^alpha must be in \[0, 1\]"),
        (dict(beta=0.5), r"^beta must be >= 1"),
        (dict(beta=float("nan")), r"^beta must be finite"),
        (dict(fraction=0), r"^fraction must be in \(0, 1\], got 0"),
        (dict(fraction=1.5), r"^fraction must be in \(0, 1\]"),
        (dict(clamp=1), r"^clamp must be a bool"),
        (dict(interpolation="linear"), r"^interpolation must be one of"),
        (dict(guide_block=-1), r"^guide_block must be an int >= 0"),
        (dict(pairing="slot"), r"^pairing must be one of"),
        (dict(guide_map="after"), r"^guide_map must be one of"),
        (dict(head_pairing="index"), r"^head_pairing must be one of"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ByTheWay(**kwargs)


def test_tau_against_the_frame_count_at_call_time(tiny_animatediff):
    with ByTheWay(tau=4).apply(tiny_animatediff):
        with pytest.raises(ValueError, match=r"^tau must be in \[0, F/2\) = \[0, 4\) for F = 8"):
            run(tiny_animatediff, num_frames=8, steps=1)
    with pytest.raises(ValueError, match=r"^tau must be in \[0, F/2\)"):
        high_frequency_bins(16, 8)


def test_models_without_enough_temporal_attention_are_refused(tiny_modelscope):
    with pytest.raises(ValueError, match=r"^pipe: StableDiffusionPipeline|no temporal attention"):
        ByTheWay().apply(tiny_stable_diffusion())
    # tiny_modelscope: UpBlock3D has no temporal attention, so one decoder block has it.
    with pytest.raises(ValueError, match=r"1 decoder block\(s\) with temporal attention"):
        ByTheWay().apply(tiny_modelscope)


def test_other_refusals(tiny_animatediff):
    pipe = tiny_animatediff
    with pytest.raises(ValueError, match=r"^guide_block must index a decoder block"):
        ByTheWay(guide_block=2).apply(pipe)
    with pytest.raises(ValueError, match=r"^pipe must be a pipeline with .unet and .scheduler"):
        ByTheWay().apply(pipe.unet)
    with ByTheWay(tau=3).apply(pipe):
        with pytest.raises(ValueError, match="already has ByTheWay"):
            ByTheWay(tau=3).apply(pipe)
    name = "up_blocks.1.motion_modules.0.transformer_blocks.0.attn1"
    attn = dict(pipe.unet.named_modules())[name]

    class Foreign(AttnProcessor2_0):
        pass

    original = attn.processor
    attn.set_processor(Foreign())
    try:
        with pytest.raises(ValueError, match=f"pipe: {name} has processor Foreign"):
            ByTheWay().apply(pipe)
    finally:
        attn.set_processor(original)


# --------------------------------------------------------------------------- model defaults


def test_model_table_defaults():
    assert MODELS["animatediff"].bytheway == dict(
        tau=7, alpha=0.6, beta=1.5, fraction=0.2, clamp=False
    )
    assert MODELS["videocrafter2"].bytheway == dict(
        tau=7, alpha=0.1, beta=10.0, fraction=0.2, clamp=False
    )
    assert MODELS["wan21_t2v_1_3b"].bytheway is None  # a transformer
    for spec in MODELS.values():
        if spec.bytheway is not None:
            method = ByTheWay(**spec.bytheway)
            frames = spec.defaults["num_frames"]
            assert len(high_frequency_bins(frames, method.tau)) == frames - 1  # all but DC
