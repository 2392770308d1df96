"""FreeNoise: noise rescheduling, window fusion, parity with diffusers' enable_free_noise, the tail
bug, UNet3D windowing vs an independent reference, per-frame prompts, restoration, FreeU, errors."""

from __future__ import annotations

import contextlib
import functools
from types import SimpleNamespace

import pytest
import torch
from diffusers import AnimateDiffVideoToVideoPipeline
from diffusers.models.attention import BasicTransformerBlock, FreeNoiseTransformerBlock

from freqlab.freenoise import NOISE_TRANSFORM_ATTR, FreeNoise, interpolate_keyframes
from freqlab.freenoise_attention import (
    fusion_counts,
    fusion_windows,
    temporal_blocks,
    window_weights,
)
from freqlab.freeu import FreeU
from freqlab.models.tiny import tiny_stable_diffusion, tiny_videocrafter2

CALL = dict(height=32, width=32, num_inference_steps=2, guidance_scale=7.5, output_type="latent")
PYRAMID_16 = [float(k) for k in range(1, 9)] + [float(k) for k in range(8, 0, -1)]


def run(pipe, num_frames: int, prompt="a corgi running", seed: int = 0, **kwargs) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return pipe(prompt=prompt, num_frames=num_frames, generator=generator, **CALL, **kwargs).frames


def run_diffusers(pipe, num_frames: int, weighting: str, prompt, **kwargs) -> torch.Tensor:
    pipe.enable_free_noise(context_length=16, context_stride=4, weighting_scheme=weighting)
    try:
        return run(pipe, num_frames, prompt, **kwargs)
    finally:
        pipe.disable_free_noise()


def count_unet_calls(pipe):
    calls = []
    handle = pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(1))
    return calls, handle


def diffusers_block(block: BasicTransformerBlock, weighting: str) -> FreeNoiseTransformerBlock:
    """diffusers' FreeNoise block with ``block``'s weights, built as enable_free_noise builds it."""
    fn_block = FreeNoiseTransformerBlock(
        dim=block.dim,
        num_attention_heads=block.num_attention_heads,
        attention_head_dim=block.attention_head_dim,
        cross_attention_dim=block.cross_attention_dim,
        activation_fn=block.activation_fn,
        attention_bias=block.attention_bias,
        double_self_attention=block.double_self_attention,
        positional_embeddings=block.positional_embeddings,
        num_positional_embeddings=block.num_positional_embeddings,
        context_length=16,
        context_stride=4,
        weighting_scheme=weighting,
    )
    fn_block.load_state_dict(block.state_dict(), strict=True)
    return fn_block.eval()


class _ZeroFF(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


@contextlib.contextmanager
def feed_forward_off(block: BasicTransformerBlock):
    """The block's own forward then returns its attention part (residuals included) exactly."""
    ff = block.ff
    block.ff = _ZeroFF()
    try:
        yield
    finally:
        block.ff = ff


def reference_block(block, x, length=16, stride=4, weights=None, fix_tail=True):
    """Independent block-level FreeNoise: windows, weights and counts written out here, the
    attention part from diffusers' own BasicTransformerBlock.forward, fused in float64."""
    weights = torch.tensor(PYRAMID_16 if weights is None else weights, dtype=torch.float64)
    num_frames = x.shape[1]
    starts = list(range(0, num_frames - length + 1, stride))
    tail = num_frames - (starts[-1] + length)
    value = torch.zeros(x.shape, dtype=torch.float64)
    count = torch.zeros(num_frames, dtype=torch.float64)
    # The class's forward, not the instance's (a test may override that with this function).
    attention_part = functools.partial(BasicTransformerBlock.forward, block)
    with feed_forward_off(block), torch.no_grad():
        for s in starts:
            value[:, s : s + length] += (
                attention_part(x[:, s : s + length]).double() * weights[:, None]
            )
            count[s : s + length] += weights
        if tail:
            h = attention_part(x[:, num_frames - length :]).double()
            value[:, -tail:] += h[:, -tail:] * weights[-tail:, None]
            # diffusers' bug adds the scalar weights[-tail] to every tail frame
            count[-tail:] += weights[-tail:] if fix_tail else weights[-tail]
    fused = (value / count[:, None]).float()
    with torch.no_grad():
        return fused + block.ff(block.norm3(fused))


def reference_attention_level(block, x, length=16, stride=4):
    """The official VideoCrafter variant (attention_freenoise.py): each attention layer is
    windowed and fused on its own (to_out is affine, so fusing after it is the same), attn2 sees
    the fused sequence. For F - L divisible by S (no tail)."""
    weights = torch.tensor(PYRAMID_16)
    num_frames = x.shape[1]

    def fused_attention(attn, h):
        value, count = torch.zeros_like(h), torch.zeros(num_frames)
        for s in range(0, num_frames - length + 1, stride):
            value[:, s : s + length] += attn(h[:, s : s + length]) * weights[:, None]
            count[s : s + length] += weights
        return value / count[:, None]

    with torch.no_grad():
        x = fused_attention(block.attn1, block.norm1(x)) + x
        x = fused_attention(block.attn2, block.norm2(x)) + x
        return x + block.ff(block.norm3(x))


def module_state(model: torch.nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "attrs": [(name, sorted(vars(m))) for name, m in model.named_modules()],
        "hooks": sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules()),
    }


def assert_same_state(before: dict, after: dict) -> None:
    assert before["attrs"] == after["attrs"] and before["hooks"] == after["hooks"]
    assert before["state"].keys() == after["state"].keys()
    assert all(torch.equal(before["state"][k], after["state"][k]) for k in before["state"])


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(context_length=0), "context_length"),
        (dict(context_length=16.0), "context_length"),
        (dict(context_stride=0), "context_stride"),
        (dict(context_stride=17), "context_stride"),
        (dict(context_length=8, context_stride=9), "context_stride"),
        (dict(weighting="triangle"), "weighting"),
        (dict(noise="shuffle"), "noise"),
        (dict(fix_tail=1), "fix_tail"),
        (dict(windows="no"), "windows"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        FreeNoise(**kwargs)
    assert str(info.value).startswith(name)


def test_config_round_trips():
    fn = FreeNoise(context_length=12, context_stride=3, weighting="flat", noise="random")
    assert fn.config == dict(
        context_length=12,
        context_stride=3,
        weighting="flat",
        noise="random",
        fix_tail=True,
        windows=True,
    )
    assert FreeNoise(**fn.config) == fn


@pytest.mark.parametrize("weighting", ["pyramid", "flat", "delayed_reverse_sawtooth"])
def test_window_weights_match_diffusers(weighting):
    assert window_weights(16, "pyramid") == PYRAMID_16
    assert window_weights(5, "delayed_reverse_sawtooth") == [0.01, 0.01, 3.0, 2.0, 1.0]
    for length in range(1, 21):
        ours = window_weights(length, weighting)
        expected = FreeNoiseTransformerBlock._get_frame_weights(None, length, weighting)
        assert len(ours) == length
        if weighting == "delayed_reverse_sawtooth" and length % 2:
            # diffusers builds length + 1 weights for odd lengths (and then fails); ours drops
            # one of its leading 0.01s, as its docstring's example for 5.
            assert expected == [0.01] + ours
        else:
            assert ours == [float(w) for w in expected]


@pytest.mark.parametrize("num_frames", [16, 17, 24, 26, 27, 33])
def test_windows_match_diffusers_and_cover_every_frame(num_frames):
    windows = fusion_windows(num_frames, 16, 4)
    fake = SimpleNamespace(context_length=16, context_stride=4)
    starts = FreeNoiseTransformerBlock._get_frame_indices(fake, num_frames)
    assert [(s, e) for s, e, keep in windows if keep == 16] == starts
    covered = {f for s, e, keep in windows for f in range(e - keep, e)}
    assert covered == set(range(num_frames))
    counts = fusion_counts(num_frames, 16, 4, "pyramid")
    assert counts.min() > 0
    with pytest.raises(ValueError, match="context_length"):
        fusion_windows(15, 16, 4)


def test_tail_counts_fixed_and_buggy():
    # F = 26: windows (0,16) (4,20) (8,24) and the tail (10,26) keeping frames 24, 25.
    fixed = fusion_counts(26, 16, 4, "pyramid", fix_tail=True)
    buggy = fusion_counts(26, 16, 4, "pyramid", fix_tail=False)
    assert fixed[-2:].tolist() == [2.0, 1.0]  # weights[-2:]
    assert buggy[-2:].tolist() == [2.0, 2.0]  # weights[-2] added to both
    assert torch.equal(fixed[:-1], buggy[:-1])
    assert torch.equal(
        fusion_counts(26, 16, 4, "flat", True), fusion_counts(26, 16, 4, "flat", False)
    )


# --------------------------------------------------------------------------- noise


def frame_ids(batch: int, num_frames: int) -> torch.Tensor:
    """Noise whose frame f holds the value f everywhere: shuffled values name their source."""
    return (
        torch.arange(num_frames, dtype=torch.float32)
        .view(1, 1, -1, 1, 1)
        .expand(batch, 2, num_frames, 3, 3)
    )


def sources(out: torch.Tensor, b: int = 0) -> list[int]:
    return [int(v) for v in out[b, 0, :, 0, 0]]


@pytest.mark.parametrize("num_frames", [24, 26, 27, 32, 64])
def test_shuffle_permutes_blocks_of_earlier_frames(num_frames):
    noise = frame_ids(1, num_frames)
    src = sources(FreeNoise().reschedule(noise, torch.Generator().manual_seed(3)))
    assert src[:16] == list(range(16)) and sources(noise) == list(range(num_frames))
    reordered = 0
    for i in range(16, num_frames, 4):  # block [i, i+4) shuffles block [i-16, i-12)
        block, source = src[i : i + 4], src[i - 16 : i - 12]
        if len(block) == 4:
            assert sorted(block) == sorted(source)
        else:  # a short last block: part of its source block's permutation
            assert set(block) <= set(source) and len(set(block)) == len(block)
        reordered += block != source[: len(block)]
    assert reordered > 0
    for s in range(0, num_frames - 15, 4):  # every aligned window is a permutation of 0..15
        assert sorted(src[s : s + 16]) == list(range(16))


def test_shuffle_moves_whole_frames_bit_exactly():
    noise = torch.randn(2, 4, 27, 5, 5, generator=torch.Generator().manual_seed(0))
    out = FreeNoise().reschedule(noise, torch.Generator().manual_seed(1))
    ids = FreeNoise().reschedule(frame_ids(2, 27), torch.Generator().manual_seed(1))
    for b in range(2):
        for f, s in enumerate(sources(ids, b)):
            assert torch.equal(out[b, :, f], noise[b, :, s])
    assert sources(ids, 0) == sources(ids, 1)  # one generator: one permutation for the batch
    assert sources(ids, 0) != list(range(27))
    assert noise.shape == out.shape and not torch.equal(noise, out)


@pytest.mark.parametrize("num_frames", [24, 26, 27])
def test_pipeline_noise_equals_diffusers_bit_for_bit(tiny_animatediff, num_frames):
    pipe, args = tiny_animatediff, (2, 4, num_frames, 32, 32, torch.float32, "cpu")
    with FreeNoise().apply(pipe):
        ours = pipe.prepare_latents(*args, torch.Generator().manual_seed(7))
    pipe.enable_free_noise()
    try:
        ref = pipe.prepare_latents(*args, torch.Generator().manual_seed(7))
    finally:
        pipe.disable_free_noise()
    assert torch.equal(ours, ref)


def test_samplers_reschedule_the_noise_they_draw(tiny_animatediff):
    # FreeInit and FreqPrior pass latents=, which prepare_latents leaves alone: they apply the
    # transform themselves, to the initial noise and to every refinement's fresh draws, with the
    # per-sample generators the draws came from (continued).
    from diffusers.utils.torch_utils import randn_tensor

    from freqlab.freeinit import FreeInit
    from freqlab.freqprior import FreqPrior
    from freqlab.sampling import pass_seed
    from freqlab.schedules import diffuse_to_last_timestep
    from freqlab.spectral import freq_mix_3d

    pipe, fn, shape = tiny_animatediff, FreeNoise(), (1, 4, 20, 8, 8)
    call = dict(prompt="a cat", num_frames=20, height=32, width=32, num_inference_steps=3)

    def rescheduled(seed):
        g = [torch.Generator().manual_seed(seed)]
        return fn.reschedule(randn_tensor(shape, generator=g), g)

    with fn.apply(pipe):
        fi = FreeInit(num_iters=2)(pipe, generator=[torch.Generator().manual_seed(3)], **call)
        timesteps = [round(float(t)) for t in pipe.scheduler.timesteps]  # 3 steps, e.g. 667, 334, 1
        fp = FreqPrior(num_iters=1, mid_step=timesteps[1])(
            pipe, generator=[torch.Generator().manual_seed(3)], **call
        )
    eps = rescheduled(3)
    assert torch.equal(fi.initial_noise, eps) and torch.equal(fp.initial_noise, eps)
    assert not torch.equal(eps, randn_tensor(shape, generator=torch.Generator().manual_seed(3)))
    z_t = diffuse_to_last_timestep(pipe.scheduler, fi.latents[0], eps)
    expected = freq_mix_3d(z_t, rescheduled(pass_seed(3, 1)), fi.lpf)
    assert torch.equal(fi.pass_inputs[1], expected)


def test_generator_list_keeps_videos_independent():
    fn, noise = FreeNoise(), frame_ids(2, 40)

    def gens(seed0, seed1):
        return [torch.Generator().manual_seed(seed0), torch.Generator().manual_seed(seed1)]

    out = fn.reschedule(noise, gens(5, 6))
    alone = [fn.reschedule(noise[b : b + 1], torch.Generator().manual_seed(5 + b)) for b in (0, 1)]
    assert torch.equal(out[0:1], alone[0]) and torch.equal(out[1:2], alone[1])
    assert torch.equal(fn.reschedule(noise, gens(5, 99))[0], out[0])  # video 1's seed only
    with pytest.raises(ValueError, match="generator"):
        fn.reschedule(noise, gens(5, 6)[:1])


def test_repeat_and_random_noise_types():
    noise = torch.randn(1, 2, 37, 2, 2, generator=torch.Generator().manual_seed(0))
    tiled = FreeNoise(noise="repeat_context").reschedule(noise)
    assert all(torch.equal(tiled[:, :, f], noise[:, :, f % 16]) for f in range(37))
    assert FreeNoise(noise="random").reschedule(noise) is noise


def test_reschedule_bad_input():
    fn = FreeNoise()
    with pytest.raises(ValueError, match="noise"):
        fn.reschedule(torch.zeros(2, 24, 4, 4))
    with pytest.raises(ValueError, match="context_length"):
        fn.reschedule(torch.zeros(1, 4, 15, 4, 4))
    with pytest.raises(ValueError, match="generator"):
        fn.reschedule(torch.zeros(1, 4, 24, 4, 4), generator=0)


# --------------------------------------------------------------------------- parity


@pytest.mark.parametrize("num_frames", [24, 32])
@pytest.mark.parametrize("weighting", ["pyramid", "flat"])
def test_parity_with_diffusers_enable_free_noise(tiny_animatediff, num_frames, weighting):
    pipe = tiny_animatediff
    # A one-keyframe dict prompt: diffusers' and ours both lerp it over the frames, so the
    # conditioning is the same and only the operations' order could differ.
    prompt = {0: "a corgi running"}
    with FreeNoise(weighting=weighting).apply(pipe):
        ours = run(pipe, num_frames, prompt)
    ref = run_diffusers(pipe, num_frames, weighting, prompt)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_parity_with_a_plain_string_prompt(tiny_animatediff):
    pipe = tiny_animatediff
    with FreeNoise().apply(pipe):
        ours = run(pipe, 24, "a corgi running")
    ref = run_diffusers(pipe, 24, "pyramid", "a corgi running")
    # diffusers lerps a string prompt with itself over the frames ((1-a)e + ae, ~1 ulp off e);
    # freqlab conditions on e itself. Over 2 steps of the random tiny net (latents ~40) that
    # ulp grows to ~1e-4 absolute, 2e-6 relative to the latents' scale.
    torch.testing.assert_close(ours, ref, atol=1e-5 * ref.abs().max().item(), rtol=0)


def test_parity_with_per_frame_prompts(tiny_animatediff):
    pipe = tiny_animatediff
    prompt = {0: "a corgi running", 10: "a cat sleeping", 20: "a red car"}
    negative = {0: "blurry", 12: "dark"}
    with FreeNoise().apply(pipe):
        ours = run(pipe, 24, prompt, negative_prompt=negative)
        plain = run(pipe, 24, "a corgi running", negative_prompt="blurry")
    ref = run_diffusers(pipe, 24, "pyramid", prompt, negative_prompt=negative)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    assert (ours - plain).abs().max() > 1e-2  # the later keyframes matter


def test_video_to_video_keeps_its_prepare_latents_and_gets_per_frame_prompts(tiny_animatediff):
    # Its prepare_latents(video, ...) noises encoded frames and takes no num_frames: apply()
    # leaves it (and its noise) alone, as diffusers does; the UNet's first call sizes the prompts.
    pipe = AnimateDiffVideoToVideoPipeline.from_pipe(tiny_animatediff)
    video = torch.rand(1, 20, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    call = {**CALL, "num_inference_steps": 3, "strength": 1.0}

    def v2v(prompt):
        return pipe(video=video, prompt=prompt, generator=torch.Generator().manual_seed(0), **call)

    prompt = {0: "a corgi running", 10: "a red car"}
    plain, before = v2v("a corgi running").frames, sorted(vars(pipe))
    with FreeNoise().apply(pipe):
        assert "prepare_latents" not in vars(pipe) and hasattr(pipe, NOISE_TRANSFORM_ATTR)
        ours, single = v2v(prompt).frames, v2v({0: "a corgi running"}).frames
        with pytest.raises(ValueError, match="^prompt: keyframe 20"):  # at the first UNet call
            v2v({0: "a corgi running", 20: "a red car"})
    assert sorted(vars(pipe)) == before and torch.equal(v2v("a corgi running").frames, plain)
    pipe.enable_free_noise()
    try:
        ref = v2v(prompt).frames
    finally:
        pipe.disable_free_noise()
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    assert (ours - single).abs().max() > 1e-2  # the later keyframe matters


def test_interpolate_keyframes():
    embeds = torch.tensor([[0.0], [10.0]])
    out = interpolate_keyframes([0, 4], embeds, 8)
    assert out.flatten().tolist() == [0.0, 2.5, 5.0, 7.5, 10.0, 10.0, 10.0, 10.0]
    assert interpolate_keyframes([0], embeds[:1] + 3, 1).flatten().tolist() == [3.0]


# --------------------------------------------------------------------------- the tail bug


def motion_block(pipe) -> BasicTransformerBlock:
    return pipe.unet.down_blocks[0].motion_modules[0].transformer_blocks[0]


@pytest.mark.parametrize("num_frames, tail", [(26, 1), (27, 2)])
def test_tail_bug_at_block_level(tiny_animatediff, num_frames, tail):
    block = motion_block(tiny_animatediff).eval()
    x = torch.randn(6, num_frames, block.dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        buggy = FreeNoise(fix_tail=False).apply(tiny_animatediff.unet)
        with buggy:
            ours_bug = block(x)
        with FreeNoise(fix_tail=True).apply(tiny_animatediff.unet):
            ours_fix = block(x)
        ref_bug = diffusers_block(block, "pyramid")(x)
    torch.testing.assert_close(ours_bug, ref_bug, atol=1e-6, rtol=0)
    # Only the last `tail` frames are divided by a different count (F=26: the last frame only;
    # frame 24's wrong count happens to be right, weights[-2] = 2).
    assert torch.equal(ours_fix[:, :-tail], ours_bug[:, :-tail])
    assert (ours_fix[:, -tail:] - ours_bug[:, -tail:]).abs().amin(dim=(0, 2)).min() > 1e-3
    torch.testing.assert_close(ours_fix, reference_block(block, x), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        ours_bug, reference_block(block, x, fix_tail=False), atol=1e-5, rtol=0
    )


def test_tail_bug_at_26_frames_through_the_pipeline(tiny_animatediff):
    pipe, prompt = tiny_animatediff, {0: "a corgi running"}
    with FreeNoise(fix_tail=False).apply(pipe):
        buggy = run(pipe, 26, prompt)
    with FreeNoise(fix_tail=True).apply(pipe):
        fixed = run(pipe, 26, prompt)
    ref = run_diffusers(pipe, 26, "pyramid", prompt)
    torch.testing.assert_close(buggy, ref, atol=1e-5, rtol=0)
    # Later blocks mix frames, so through the UNet every frame changes.
    assert (fixed - ref).abs().max() > 1e-2


# --------------------------------------------------------------------------- UNet3D


def test_unet3d_block_windowing_matches_reference(tiny_modelscope):
    blocks = temporal_blocks(tiny_modelscope.unet)
    assert blocks[0].name == "transformer_in.transformer_blocks.0" and len(blocks) == 5
    assert all(b.positions is None for b in blocks)  # no positional embedding
    block = blocks[1].block.eval()
    x = torch.randn(6, 24, block.dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), FreeNoise().apply(tiny_modelscope):
        ours = block(x)
    torch.testing.assert_close(ours, reference_block(block, x), atol=1e-5, rtol=0)
    # The official VideoCrafter variant (per attention layer) is a different function.
    assert (ours - reference_attention_level(block, x)).abs().max() > 1e-3


def test_unet3d_windowing_matches_reference_through_the_unet(tiny_modelscope):
    unet = tiny_modelscope.unet.eval()
    gen = torch.Generator().manual_seed(0)
    inputs = dict(
        sample=torch.randn(1, 4, 24, 8, 8, generator=gen),
        timestep=torch.tensor(500),
        encoder_hidden_states=torch.randn(1, 7, 32, generator=gen),
    )
    with torch.no_grad():
        plain = unet(**inputs).sample
        with FreeNoise().apply(unet):
            ours = unet(**inputs).sample
        blocks = [b.block for b in temporal_blocks(unet)]
        for block in blocks:  # the test's reference, on the instances
            block.forward = lambda x, *a, block=block, **k: reference_block(block, x)
        try:
            ref = unet(**inputs).sample
        finally:
            for block in blocks:
                del block.forward
        assert torch.equal(unet(**inputs).sample, plain)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    assert (ours - plain).abs().max() > 1e-2


def test_videocrafter2_pipeline_samples_long_videos():
    pipe = tiny_videocrafter2()
    plain = run(pipe, 24)
    with FreeNoise().apply(pipe) as handle:
        ours = run(pipe, 24)
    assert len(handle.blocks) == 5 and ours.shape == plain.shape == (1, 4, 24, 8, 8)
    assert (ours - plain).abs().max() > 1e-2
    assert torch.equal(run(pipe, 24), plain)


# --------------------------------------------------------------------------- restore, compose


@pytest.mark.parametrize("fixture", ["tiny_animatediff", "tiny_modelscope"])
def test_exit_restores_exactly(request, fixture):
    pipe = request.getfixturevalue(fixture)
    plain = run(pipe, 16)  # first: a call sets the pipeline's own attributes
    before_pipe, before = sorted(vars(pipe)), module_state(pipe.unet)
    fn = FreeNoise()
    with fn.apply(pipe) as handle:
        assert getattr(pipe, NOISE_TRANSFORM_ATTR).__self__ is fn
        assert handle.active
        assert run(pipe, 24).shape[2] == 24
    assert not handle.active and not hasattr(pipe, NOISE_TRANSFORM_ATTR)
    assert sorted(vars(pipe)) == before_pipe
    assert_same_state(before, module_state(pipe.unet))
    assert torch.equal(run(pipe, 16), plain)
    handle.remove()  # idempotent


def test_one_window_is_plain_sampling(tiny_animatediff):
    pipe = tiny_animatediff
    plain = run(pipe, 16)
    with FreeNoise().apply(pipe):
        ours = run(pipe, 16)  # one window, nothing shuffled: w * h / w
    torch.testing.assert_close(ours, plain, atol=1e-5 * plain.abs().max().item(), rtol=0)


def test_failing_and_nested_contexts_restore(tiny_animatediff):
    pipe = tiny_animatediff
    before, plain = module_state(pipe.unet), run(pipe, 16)
    with pytest.raises(RuntimeError, match="boom"), FreeNoise().apply(pipe):
        raise RuntimeError("boom")
    assert_same_state(before, module_state(pipe.unet))
    with FreeNoise().apply(pipe):
        with pytest.raises(ValueError, match="already has FreeNoise"):
            FreeNoise(weighting="flat").apply(pipe)
        with pytest.raises(RuntimeError, match="inner"), FreeU(1.5, 1.6, 0.9, 0.2).apply(pipe):
            raise RuntimeError("inner")
        inside = run(pipe, 24)
    assert_same_state(before, module_state(pipe.unet))
    assert not hasattr(pipe, NOISE_TRANSFORM_ATTR)
    assert torch.equal(run(pipe, 16), plain) and inside.shape[2] == 24


def test_manual_remove_restores(tiny_modelscope):
    plain = run(tiny_modelscope, 16)
    handle = FreeNoise(noise="random").apply(tiny_modelscope)
    assert "FreeNoiseHandle(UNet3DConditionModel, 5 blocks, active)" == repr(handle)
    handle.remove()
    handle.remove()
    assert torch.equal(run(tiny_modelscope, 16), plain)


def test_stacks_with_freeu_in_both_orders(tiny_animatediff):
    pipe, freeu, fn = tiny_animatediff, FreeU(1.5, 1.6, 0.9, 0.2), FreeNoise()
    before, plain = module_state(pipe.unet), run(pipe, 16)
    with fn.apply(pipe):
        noise_only = run(pipe, 24)
    with freeu.apply(pipe):
        freeu_only = run(pipe, 24)
    with fn.apply(pipe), freeu.apply(pipe):
        both = run(pipe, 24)
    with freeu.apply(pipe), fn.apply(pipe):
        both_again = run(pipe, 24)
    assert torch.equal(both, both_again)  # the hooks do not interact
    assert (both - noise_only).abs().max() > 1e-2 and (both - freeu_only).abs().max() > 1e-2
    assert_same_state(before, module_state(pipe.unet))
    assert torch.equal(run(pipe, 16), plain)


# --------------------------------------------------------------------------- bad input


def test_pipeline_without_temporal_attention_is_refused():
    pipe = tiny_stable_diffusion()
    with pytest.raises(ValueError, match="^pipe: UNet2DConditionModel has no temporal attention"):
        FreeNoise().apply(pipe)
    with pytest.raises(ValueError, match="^pipe must be"):
        FreeNoise().apply(object())


def test_context_longer_than_the_motion_module_is_refused(tiny_animatediff):
    # The tiny motion modules' positional embedding has 32 positions.
    FreeNoise(context_length=32, context_stride=4).apply(tiny_animatediff).remove()
    with pytest.raises(ValueError, match=r"^context_length \(33\).*max_seq_length \(32"):
        FreeNoise(context_length=33).apply(tiny_animatediff)


def test_diffusers_free_noise_enabled_is_refused(tiny_animatediff):
    pipe = tiny_animatediff
    pipe.enable_free_noise()
    try:
        with pytest.raises(ValueError, match="diffusers' FreeNoise enabled"):
            FreeNoise().apply(pipe)
        # The UNet alone: its blocks are diffusers' FreeNoiseTransformerBlocks.
        with pytest.raises(ValueError, match="FreeNoiseTransformerBlock"):
            FreeNoise().apply(pipe.unet)
    finally:
        pipe.disable_free_noise()
    FreeNoise().apply(pipe).remove()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(num_frames=12), "context_length"),
        (dict(num_frames=20, prompt={0: "a", 20: "b"}), "prompt"),
        (dict(num_frames=20, prompt={3: "a"}), "prompt"),
        (
            dict(num_frames=20, prompt={0: "a"}, negative_prompt={0: "x", 25: "y"}),
            "negative_prompt",
        ),
        (dict(num_frames=20, prompt={0: 5}), "prompt"),
    ],
)
def test_bad_call_is_refused_before_sampling(tiny_animatediff, kwargs, name):
    pipe = tiny_animatediff
    kwargs = {"prompt": "a corgi", **kwargs}
    calls, handle = count_unet_calls(pipe)
    try:
        with FreeNoise().apply(pipe), pytest.raises(ValueError, match=f"^{name}"):
            pipe(generator=torch.Generator().manual_seed(0), **CALL, **kwargs)
    finally:
        handle.remove()
    assert calls == []


def test_per_frame_prompts_refuse_embeddings(tiny_animatediff):
    pipe = tiny_animatediff
    with FreeNoise().apply(pipe):
        with pytest.raises(ValueError, match="^negative_prompt_embeds"):
            pipe(
                prompt={0: "a"},
                negative_prompt_embeds=torch.zeros(1, 77, 32),
                num_frames=16,
                **CALL,
            )


# --------------------------------------------------------------------------- noise alone, DiTs


def _dit_state(pipe) -> tuple:
    """What an apply() could change on a DiT pipeline: its instance attributes, and every hook
    and instance-level forward of its transformer."""
    modules = list(pipe.transformer.named_modules())
    return (
        dict(vars(pipe)),
        sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for _, m in modules),
        [n for n, m in modules if "forward" in vars(m)],
    )


@pytest.fixture(scope="module")
def tiny_wan():
    from freqlab.models.tiny import tiny_wan

    return tiny_wan()


@pytest.fixture(scope="module")
def tiny_cogvideox():
    from freqlab.models.tiny import tiny_cogvideox

    return tiny_cogvideox()


def _earlier_frame_sources(z: torch.Tensor, axis: int, length: int) -> list[int]:
    """For every frame ``f`` of ``z`` along ``axis``, the first frame ``s < length`` it equals
    bit for bit (frames ``f < length`` are their own sources); AssertionError if none does."""
    frames = z.unbind(axis)
    sources = []
    for f, frame in enumerate(frames):
        match = [s for s in range(length) if torch.equal(frame, frames[s])]
        assert match, f"frame {f} is no copy of frames 0..{length - 1} along axis {axis}"
        sources.append(match[0])
    return sources


@pytest.mark.parametrize("fixture", ["tiny_wan", "tiny_cogvideox"])
def test_window_fusion_on_a_dit_points_to_the_noise_alone(request, fixture):
    # The refusal itself is tests/test_handles.py's; FreeNoise's adds what serves a DiT.
    pipe = request.getfixturevalue(fixture)
    with pytest.raises(ValueError) as info:
        FreeNoise(context_length=2, context_stride=1).apply(pipe)
    assert str(info.value).endswith(
        "FreeNoise(windows=False) reschedules the noise alone, on any pipeline"
    )


def test_noise_alone_shuffles_cogvideox_along_its_frame_axis(tiny_cogvideox):
    # CogVideoX draws (B, F, C, h, w): frames are axis 1 there. 25 frames -> 7 latent frames.
    pipe, fn = tiny_cogvideox, FreeNoise(context_length=3, context_stride=2, windows=False)
    args = (2, 16, 25, 32, 32, torch.float32, "cpu")
    generator = torch.Generator().manual_seed(7)
    plain = pipe.prepare_latents(*args, generator)
    before = _dit_state(pipe)
    with fn.apply(pipe) as handle:
        assert handle.blocks == [] and handle.unet is pipe.transformer
        ours = pipe.prepare_latents(*args, torch.Generator().manual_seed(7))
    assert _dit_state(pipe) == before and not hasattr(pipe, NOISE_TRANSFORM_ATTR)
    assert ours.shape == plain.shape == (2, 7, 16, 8, 8)
    # frames f >= L are frames of plain's first L along the frame axis, whole and bit exact
    assert torch.equal(ours[:, :3], plain[:, :3]) and not torch.equal(ours, plain)
    sources = _earlier_frame_sources(ours, axis=1, length=3)
    assert sorted(sources[3:5]) == [0, 1] and sources != list(range(7))
    # exactly reschedule() of the (B, C, F, h, w) noise, with the draw's generator continued
    expected = fn.reschedule(plain.permute(0, 2, 1, 3, 4), generator).permute(0, 2, 1, 3, 4)
    assert torch.equal(ours, expected)


def test_noise_alone_reaches_the_samplers_on_cogvideox(tiny_cogvideox):
    # FreeInit draws its own noise in the pipeline's layout and holds it as (B, C, T, h, w):
    # the rescheduling permutes axis 2 there.
    from freqlab.freeinit import FreeInit

    call = dict(prompt="a cat", num_frames=21, height=32, width=32, num_inference_steps=1)
    with FreeNoise(context_length=2, context_stride=2, windows=False).apply(tiny_cogvideox):
        result = FreeInit(num_iters=1)(
            tiny_cogvideox, generator=[torch.Generator().manual_seed(3)], **call
        )
    eps = result.initial_noise  # (1, 16, 6, 8, 8)
    assert eps.shape[2] == 6
    sources = _earlier_frame_sources(eps, axis=2, length=2)
    assert sorted(sources[2:4]) == [0, 1] and sorted(sources[4:6]) == [0, 1]


def test_noise_alone_on_wan_samples_and_restores(tiny_wan):
    pipe = tiny_wan
    call = dict(prompt="a cat", num_frames=17, height=32, width=32, num_inference_steps=2)

    def sample():
        generator = torch.Generator().manual_seed(0)
        return pipe(**call, generator=generator, output_type="latent").frames

    plain = sample()
    before = _dit_state(pipe)
    fn = FreeNoise(context_length=2, context_stride=1, windows=False)
    with fn.apply(pipe):
        assert getattr(pipe, NOISE_TRANSFORM_ATTR).__self__ is fn
        noise = pipe.prepare_latents(
            1,
            16,
            32,
            32,
            num_frames=17,
            dtype=torch.float32,
            device="cpu",
            generator=torch.Generator().manual_seed(1),
        )
        rescheduled = sample()
    # Wan draws (B, C, F, h, w): 17 frames -> 5 latent frames, shuffled along axis 2
    assert noise.shape[2] == 5
    _earlier_frame_sources(noise, axis=2, length=2)
    assert rescheduled.shape == plain.shape and not torch.equal(rescheduled, plain)
    assert _dit_state(pipe) == before and torch.equal(sample(), plain)


def test_noise_alone_on_a_unet_pipeline_windows_nothing(tiny_animatediff):
    pipe, args = tiny_animatediff, (1, 4, 24, 32, 32, torch.float32, "cpu")
    with FreeNoise().apply(pipe):
        both = pipe.prepare_latents(*args, torch.Generator().manual_seed(7))
    with FreeNoise(windows=False).apply(pipe) as handle:
        alone = pipe.prepare_latents(*args, torch.Generator().manual_seed(7))
        assert handle.blocks == []
        assert not [b.name for b in temporal_blocks(pipe.unet) if "forward" in vars(b.block)]
        with pytest.raises(ValueError, match="already has FreeNoise"):
            FreeNoise(windows=False).apply(pipe)
    assert torch.equal(alone, both)  # the same noise, with or without the windows


def test_noise_alone_refusals(tiny_wan, tiny_animatediff):
    from freqlab.freelong import FreeLong

    with pytest.raises(ValueError, match=r"^windows=False reschedules the noise a pipeline"):
        FreeNoise(windows=False).apply(tiny_wan.transformer)
    with FreeNoise(windows=False).apply(tiny_wan):
        # tiny_wan's 5 frames are 2 latent frames: no frame to reschedule from 16, before sampling
        with pytest.raises(ValueError, match=r"^context_length \(16\) must be <= the number of "):
            tiny_wan.prepare_latents(
                1,
                16,
                32,
                32,
                num_frames=5,
                dtype=torch.float32,
                device="cpu",
                generator=torch.Generator().manual_seed(1),
            )
    # FreeLong brings FreeNoise's noise: a second rescheduling would compound
    with FreeNoise(windows=False).apply(tiny_animatediff):
        with pytest.raises(ValueError, match="noise is already rescheduled"):
            FreeLong().apply(tiny_animatediff)
        assert not any("forward" in vars(m) for m in tiny_animatediff.unet.modules())


def test_noise_alone_unpacks_ltx_tokens():
    # LTX-Video packs (B, C, F, h, w) into tokens (B, F·h·w, C) (patch 1): the rescheduling runs
    # on the unpacked noise, along its frame axis, and is packed again.
    from freqlab.latents import latent_packing, unpack_latents
    from freqlab.models.tiny_dit import tiny_ltx

    pipe = tiny_ltx()
    channels = pipe.transformer.config.in_channels
    kwargs = dict(height=32, width=32, num_frames=33, dtype=torch.float32, device="cpu")
    plain = pipe.prepare_latents(1, channels, generator=torch.Generator().manual_seed(7), **kwargs)
    fn = FreeNoise(context_length=2, context_stride=1, windows=False)
    with fn.apply(pipe):
        tokens = pipe.prepare_latents(
            1, channels, generator=torch.Generator().manual_seed(7), **kwargs
        )
    assert tokens.shape == plain.shape and not torch.equal(tokens, plain)
    t, s = pipe.vae_temporal_compression_ratio, pipe.vae_spatial_compression_ratio
    shape = (1, channels, (33 - 1) // t + 1, 32 // s, 32 // s)
    ours = unpack_latents(tokens, shape, *latent_packing(pipe))
    noise = unpack_latents(plain, shape, *latent_packing(pipe))
    assert ours.shape[2] >= 3
    assert torch.equal(ours[:, :, :2], noise[:, :, :2])
    _earlier_frame_sources(ours, axis=2, length=2)
