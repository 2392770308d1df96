"""FreeLong: the local mask, SpectralBlend and every attention layer against independent
references, plain sampling when the window covers the video, FreeNoise's noise, positional
embeddings past max_seq_length, restoration, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import UNetMotionModel
from diffusers.models.attention_processor import Attention, AttnProcessor
from diffusers.models.embeddings import SinusoidalPositionalEmbedding

from freqlab.freelong import FreeLong, local_mask, position_table, spectral_blend
from freqlab.freenoise import FreeNoise
from freqlab.freeu import FreeU
from freqlab.models.tiny import MOTION_MAX_FRAMES, tiny_stable_diffusion
from freqlab.sampling import NOISE_TRANSFORM_ATTR

CALL = dict(height=32, width=32, num_inference_steps=2, guidance_scale=7.5, output_type="latent")


def run(pipe, num_frames: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return pipe(prompt="a corgi running", num_frames=num_frames, generator=generator, **CALL).frames


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


# --------------------------------------------------------------------------- references


def reference_mask(num_frames: int, window: int, variant: str) -> np.ndarray:
    """Written as bands: row i allows [lo, hi); "adjusted" clamps the band into the video
    keeping min(W, F) keys at the edges (the official loop's shift, in closed form)."""
    allowed = np.zeros((num_frames, num_frames), dtype=bool)
    for i in range(num_frames):
        lo, hi = i - window // 2, i + window // 2 + 1
        if variant == "adjusted":
            lo = min(max(lo, 0), max(num_frames - window, 0))
            hi = max(min(hi, num_frames), min(window, num_frames))
        allowed[i, max(lo, 0) : min(hi, num_frames)] = True
    return allowed


def reference_blend(g, loc, height, width, d_s=0.25, d_t=0.25) -> np.ndarray:
    """The official combine in numpy: (B h w, F, C) -> (B, C, F, h, w), fftshifted 3D spectra
    mixed with the Gaussian exp(-(t²/d_t² + h²/d_s² + w²/d_s²)/2) on 2k/n - 1 coordinates."""
    g, loc = (np.asarray(x, dtype=np.float64) for x in (g, loc))
    tokens, frames, channels = g.shape
    batch = tokens // (height * width)

    def video(x):
        return x.reshape(batch, height, width, frames, channels).transpose(0, 4, 3, 1, 2)

    t, h, w = (np.arange(n) * 2 / n - 1 for n in (frames, height, width))
    d2 = (
        t[:, None, None] ** 2 / d_t**2
        + h[None, :, None] ** 2 / d_s**2
        + w[None, None] ** 2 / d_s**2
    )
    lpf = np.exp(-0.5 * d2)
    axes = (-3, -2, -1)

    def spectrum(x):
        return np.fft.fftshift(np.fft.fftn(video(x), axes=axes), axes=axes)

    mixed = spectrum(g) * lpf + spectrum(loc) * (1 - lpf)
    out = np.fft.ifftn(np.fft.ifftshift(mixed, axes=axes), axes=axes).real
    return out.transpose(0, 3, 4, 2, 1).reshape(tokens, frames, channels)


def reference_local(attn: Attention, x: torch.Tensor, allowed: np.ndarray) -> torch.Tensor:
    """Masked attention written out (softmax of scaled scores plus -inf outside the window)."""
    tokens, frames, _ = x.shape
    heads = attn.heads

    def split(t):
        return t.view(tokens, frames, heads, -1).transpose(1, 2).double()

    q, k, v = split(attn.to_q(x)), split(attn.to_k(x)), split(attn.to_v(x))
    bias = torch.zeros(frames, frames, dtype=torch.float64)
    bias[~torch.from_numpy(allowed)] = -math.inf
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias
    h = (scores.softmax(-1) @ v).transpose(1, 2).reshape(tokens, frames, -1).float()
    return attn.to_out[0](h)


# --------------------------------------------------------------------------- settings


def test_defaults_and_noise_settings():
    fl = FreeLong()
    assert fl.config == dict(
        window=16,
        method="gaussian",
        d_s=0.25,
        d_t=0.25,
        skip_highest_resolution=True,
        freenoise=True,
        order=4,
        mask="adjusted",
        positions=None,
    )
    assert fl.noise == FreeNoise(context_length=16, context_stride=4)  # the official 16 / 4
    assert FreeLong(window=3).noise == FreeNoise(context_length=3, context_stride=3)
    custom = FreeNoise(context_length=8, context_stride=2, noise="repeat_context")
    assert FreeLong(freenoise=custom).noise is custom
    assert FreeLong(freenoise=False).noise is None


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(window=0), "window"),
        (dict(window=-4), "window"),
        (dict(window=2.5), "window"),
        (dict(window=True), "window"),
        (dict(method="sharp"), "method"),
        (dict(d_s=1.5), "d_s"),
        (dict(d_t=-0.1), "d_t"),
        (dict(method="butterworth", order=0.5), "order"),
        (dict(skip_highest_resolution="yes"), "skip_highest_resolution"),
        (dict(freenoise="yes"), "freenoise"),
        (dict(mask="lavie"), "mask"),
        (dict(positions="rope"), "positions"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name} "):
        FreeLong(**kwargs)


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize("variant", ["adjusted", "strict"])
@pytest.mark.parametrize("num_frames", [1, 5, 16, 17, 20, 40])
@pytest.mark.parametrize("window", [1, 4, 7, 16])
def test_local_mask_matches_reference(num_frames, window, variant):
    mask = local_mask(num_frames, window, variant)
    assert mask.dtype == torch.bool and mask.shape == (num_frames, num_frames)
    np.testing.assert_array_equal(mask.numpy(), reference_mask(num_frames, window, variant))
    assert bool(mask.diagonal().all())  # every frame sees itself


def test_local_mask_key_counts_as_documented():
    # 40 frames, window 16: LaVie's adjusted mask has 16 keys at the edges and 17 inside;
    # VideoCrafter2's strict one 9 at the first frame, 17 inside.
    counts = local_mask(40, 16).sum(1).tolist()
    assert counts == [16] * 8 + [17] * 24 + [16] * 8
    assert local_mask(40, 16)[0].nonzero().flatten().tolist() == list(range(16))
    assert local_mask(40, 16)[39].nonzero().flatten().tolist() == list(range(24, 40))
    strict = local_mask(40, 16, "strict").sum(1).tolist()
    assert strict[0] == 9 and strict[8:32] == [17] * 24 and strict[-1] == 9
    assert bool(local_mask(16, 16).all()) and bool(local_mask(12, 16).all())
    assert not bool(local_mask(17, 16).all())  # the first row: 16 of 17 keys


@pytest.mark.parametrize("d_s, d_t", [(0.25, 0.25), (0.4, 0.1)])
def test_spectral_blend_matches_reference(d_s, d_t):
    gen = torch.Generator().manual_seed(0)
    shape = (2 * 3 * 5, 12, 4)  # B = 2 videos, h = 3, w = 5, F = 12, C = 4
    g = torch.randn(shape, generator=gen, dtype=torch.float64)
    loc = torch.randn(shape, generator=gen, dtype=torch.float64)
    ours = spectral_blend(g, loc, 3, 5, d_s=d_s, d_t=d_t)
    np.testing.assert_allclose(ours.numpy(), reference_blend(g, loc, 3, 5, d_s, d_t), atol=1e-12)
    # float32 features: float32 FFTs, ~1e-6 relative.
    ours32 = spectral_blend(g.float(), loc.float(), 3, 5, d_s=d_s, d_t=d_t)
    assert ours32.dtype == torch.float32
    np.testing.assert_allclose(ours32.numpy(), ours.numpy(), atol=1e-5)
    # Equal streams come back (P + 1 - P = 1); a zero cut-off keeps the local stream.
    torch.testing.assert_close(spectral_blend(g, g, 3, 5), g, atol=1e-12, rtol=0)
    torch.testing.assert_close(spectral_blend(g, loc, 3, 5, d_s=0.0), loc, atol=1e-12, rtol=0)


def test_spectral_blend_refuses_bad_shapes():
    x = torch.zeros(30, 4, 2)
    with pytest.raises(ValueError, match="one shape"):
        spectral_blend(x, torch.zeros(30, 4, 3), 3, 5)
    with pytest.raises(ValueError, match="must divide"):
        spectral_blend(x, x, 4, 4)


def test_position_tables():
    pe = SinusoidalPositionalEmbedding(8, 32).pe  # (1, 32, 8), diffusers' table
    extended = position_table(pe, 40, "extend")
    assert extended.shape == (1, 40, 8) and torch.equal(extended[:, :32], pe)
    # The same sinusoid continued: diffusers' own table built for 40 positions.
    torch.testing.assert_close(extended, SinusoidalPositionalEmbedding(8, 40).pe)
    interpolated = position_table(pe, 64, "interpolate")
    pos = np.arange(64)[:, None] * 32 / 64  # position interpolation: f * P / F
    div = np.exp(np.arange(0, 8, 2) * (-np.log(10000.0) / 8))
    expected = np.zeros((64, 8))
    expected[:, 0::2], expected[:, 1::2] = np.sin(pos * div), np.cos(pos * div)
    np.testing.assert_allclose(interpolated[0].numpy(), expected, atol=1e-6)
    # Every second frame keeps an integer position of the trained table.
    torch.testing.assert_close(interpolated[:, ::2], pe)


# --------------------------------------------------------------------------- every layer


@pytest.mark.parametrize("fixture", ["tiny_animatediff", "tiny_modelscope"])
@pytest.mark.parametrize("skip", [True, False])
def test_every_layer_against_reference(request, fixture, skip):
    """One UNet call on 12 frames with window 4: each FreeLong layer's output is the blend of the
    global stream (diffusers' own Attention.forward) and an explicitly masked local stream,
    and at the highest resolution (8x8 latents) the local stream alone when skipped."""
    unet = request.getfixturevalue(fixture).unet
    frames, window = 12, 4
    allowed = reference_mask(frames, window, "adjusted")
    captured, sizes = {}, {}
    with FreeLong(window=window, skip_highest_resolution=skip).apply(unet) as handle:
        hooks = []
        for path in handle.layers:
            attn = unet.get_submodule(path)
            parent = unet.get_submodule(path.split(".transformer_blocks.")[0])

            def size(module, args, kwargs, path=path):
                x = kwargs.get("hidden_states", args[0] if args else None)
                sizes[path] = tuple(x.shape[-2:])

            def capture(module, args, output, path=path):
                captured[path] = (args[0].detach().clone(), output.detach().clone())

            hooks.append(parent.register_forward_pre_hook(size, with_kwargs=True))
            hooks.append(attn.register_forward_hook(capture))
        gen = torch.Generator().manual_seed(0)
        sample = torch.randn(2, 4, frames, 8, 8, generator=gen)
        context = torch.randn(2, 7, 32, generator=gen)
        if isinstance(unet, UNetMotionModel):  # it takes the prompt embeddings per frame
            context = context.repeat_interleave(frames, dim=0)
        with torch.no_grad():
            unet(sample, 500, encoder_hidden_states=context)
        for hook in hooks:
            hook.remove()
    assert set(captured) == set(handle.layers) and len(handle.layers) >= 10
    levels = set()
    for path, (x, out) in captured.items():
        attn = unet.get_submodule(path)
        with torch.no_grad():
            local = reference_local(attn, x, allowed)
            global_ = Attention.forward(attn, x)  # the processor's own global attention
        h, w = sizes[path]
        levels.add((h, w))
        if skip and (h, w) == (8, 8):
            expected = local.numpy()
        else:
            expected = reference_blend(global_.numpy(), local.numpy(), h, w)
        # Float32 network features against a float64 reference: ~1e-6 relative.
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(out.numpy(), expected, atol=2e-5 * scale, rtol=0)
    assert levels == {(8, 8), (4, 4)}


# --------------------------------------------------------------------------- pipelines


@pytest.mark.parametrize("fixture", ["tiny_animatediff", "tiny_modelscope"])
def test_window_covering_the_video_is_plain_sampling(request, fixture):
    pipe = request.getfixturevalue(fixture)
    plain = run(pipe, 8)
    for settings in (FreeLong(), FreeLong(window=8, skip_highest_resolution=False)):
        with settings.apply(pipe):
            ours = run(pipe, 8)  # local == global; the blend gives G back; noise untouched
        # Every blended layer round-trips float32 FFTs (~1e-7 relative), through the network
        # and the denoising steps: 1e-5 of the latents' scale.
        torch.testing.assert_close(ours, plain, atol=1e-5 * plain.abs().max().item(), rtol=0)
    with FreeLong(window=4).apply(pipe):
        assert (run(pipe, 8) - plain).abs().max() > 1e-2  # a real local window changes it


def test_default_processor_alternative(tiny_modelscope):
    # diffusers' AttnProcessor (explicit scores) is reproduced as well as AttnProcessor2_0.
    unet = tiny_modelscope.unet
    unet.set_attn_processor(AttnProcessor())
    gen = torch.Generator().manual_seed(1)
    sample, context = (
        torch.randn(1, 4, 6, 8, 8, generator=gen),
        torch.randn(1, 7, 32, generator=gen),
    )
    with torch.no_grad():
        plain = unet(sample, 300, encoder_hidden_states=context).sample
        with FreeLong().apply(unet):
            ours = unet(sample, 300, encoder_hidden_states=context).sample
    torch.testing.assert_close(ours, plain, atol=1e-5 * plain.abs().max().item(), rtol=0)


def test_modelscope_takes_any_length(tiny_modelscope):
    # UNet3DConditionModel has no temporal positional embedding: 40 frames need no positions.
    with FreeLong(window=8).apply(tiny_modelscope):
        assert run(tiny_modelscope, 40).shape == (1, 4, 40, 8, 8)


def test_animatediff_past_max_seq_length(tiny_animatediff):
    pipe, frames = tiny_animatediff, MOTION_MAX_FRAMES + 8
    with FreeLong().apply(pipe), pytest.raises(ValueError, match="^positions=None.*max_seq_length"):
        run(pipe, frames)
    outs = {}
    for strategy in ("extend", "interpolate"):
        with FreeLong(positions=strategy).apply(pipe):
            outs[strategy] = run(pipe, frames)
            # Up to max_seq_length the strategy changes nothing.
            short = run(pipe, 20)
        with FreeLong().apply(pipe):
            torch.testing.assert_close(run(pipe, 20), short, atol=0, rtol=0)
        assert outs[strategy].shape == (1, 4, frames, 8, 8)
        assert torch.isfinite(outs[strategy]).all()
    assert (outs["extend"] - outs["interpolate"]).abs().max() > 1e-3


# --------------------------------------------------------------------------- noise


def test_freenoise_reschedules_the_pipelines_noise(tiny_animatediff):
    pipe, args = tiny_animatediff, (2, 4, 24, 32, 32, torch.float32, "cpu")

    def latents():
        return pipe.prepare_latents(*args, torch.Generator().manual_seed(7))

    plain = latents()
    with FreeNoise().apply(pipe):
        freenoise = latents()
    with FreeLong().apply(pipe):
        ours = latents()
        transform = getattr(pipe, NOISE_TRANSFORM_ATTR)
    assert torch.equal(ours, freenoise) and not torch.equal(ours, plain)
    # The samplers' hook gives FreeNoise's rescheduling too (same generator, same order).
    noise = torch.randn(1, 4, 30, 4, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(
        transform(noise, torch.Generator().manual_seed(3)),
        FreeNoise().reschedule(noise, torch.Generator().manual_seed(3)),
    )
    # Fewer frames than the window: nothing to reschedule (FreeNoise itself refuses those).
    assert torch.equal(transform(noise[:, :, :10]), noise[:, :, :10])
    with FreeLong(freenoise=False).apply(pipe):
        assert torch.equal(latents(), plain)
        assert "prepare_latents" not in vars(pipe) and not hasattr(pipe, NOISE_TRANSFORM_ATTR)
    custom = FreeNoise(context_length=8, context_stride=2, noise="repeat_context")
    with FreeLong(freenoise=custom).apply(pipe):
        assert torch.equal(latents(), custom.reschedule(plain))


def test_freeinit_samples_from_the_rescheduled_noise(tiny_animatediff):
    from diffusers.utils.torch_utils import randn_tensor

    from freqlab.freeinit import FreeInit

    pipe, fl = tiny_animatediff, FreeLong(window=8)
    call = dict(prompt="a cat", num_frames=20, height=32, width=32, num_inference_steps=2)
    with fl.apply(pipe):
        result = FreeInit(num_iters=1)(pipe, generator=[torch.Generator().manual_seed(3)], **call)
    gens = [torch.Generator().manual_seed(3)]
    expected = fl.reschedule(randn_tensor((1, 4, 20, 8, 8), generator=gens), gens)
    assert torch.equal(result.initial_noise, expected)


# --------------------------------------------------------------------------- restore


@pytest.mark.parametrize("fixture", ["tiny_animatediff", "tiny_modelscope"])
def test_exit_restores_exactly(request, fixture):
    pipe = request.getfixturevalue(fixture)
    plain = run(pipe, 16)  # first: a call sets the pipeline's own attributes
    before_pipe, before = sorted(vars(pipe)), module_state(pipe.unet)
    fl = FreeLong(window=8, positions="extend")
    with fl.apply(pipe) as handle:
        assert handle.active and getattr(pipe, NOISE_TRANSFORM_ATTR).__self__ is fl
        assert "attention layers, active)" in repr(handle)
        inside = run(pipe, 24)
    assert not handle.active and not hasattr(pipe, NOISE_TRANSFORM_ATTR)
    assert sorted(vars(pipe)) == before_pipe
    assert_same_state(before, module_state(pipe.unet))
    assert torch.equal(run(pipe, 16), plain) and inside.shape[2] == 24
    handle.remove()  # idempotent


def test_failing_nested_and_manual_exits_restore(tiny_animatediff):
    pipe = tiny_animatediff
    before, plain = module_state(pipe.unet), run(pipe, 16)
    with pytest.raises(RuntimeError, match="boom"), FreeLong().apply(pipe):
        raise RuntimeError("boom")
    assert_same_state(before, module_state(pipe.unet))
    with FreeLong(window=8).apply(pipe):
        with pytest.raises(ValueError, match="already has FreeLong"):
            FreeLong().apply(pipe)
        with FreeU(1.5, 1.6, 0.9, 0.2).apply(pipe):  # composes with FreeU
            both = run(pipe, 16)
    assert_same_state(before, module_state(pipe.unet))
    handle = FreeLong().apply(pipe.unet)  # a bare UNet: attention only, no pipeline noise
    handle.remove()
    handle.remove()
    assert_same_state(before, module_state(pipe.unet))
    assert torch.equal(run(pipe, 16), plain) and not torch.equal(both, plain)


# --------------------------------------------------------------------------- errors


def test_errors(tiny_animatediff):
    pipe = tiny_animatediff
    with pytest.raises(ValueError, match="no temporal attention"):
        FreeLong().apply(tiny_stable_diffusion())
    with pytest.raises(ValueError, match="pipe must be"):
        FreeLong().apply(object())
    with FreeNoise().apply(pipe), pytest.raises(ValueError, match="window fusion"):
        FreeLong().apply(pipe)
    with FreeLong().apply(pipe):  # FreeLong brings FreeNoise's noise: a second would compound
        with pytest.raises(ValueError, match="noise is already rescheduled"):
            FreeNoise().apply(pipe)
    with FreeLong(freenoise=False).apply(pipe), FreeNoise().apply(pipe):
        with pytest.raises(ValueError, match="window fusion"):
            run(pipe, 16)
    pipe.enable_free_noise()
    try:
        with pytest.raises(ValueError, match="disable_free_noise"):
            FreeLong().apply(pipe)
    finally:
        pipe.disable_free_noise()
    attn = pipe.unet.down_blocks[0].motion_modules[0].transformer_blocks[0].attn1

    class Custom(AttnProcessor):
        pass

    attn.set_processor(Custom())
    with pytest.raises(ValueError, match="uses Custom"):
        FreeLong().apply(pipe)
    attn.set_processor(AttnProcessor())
    with FreeLong().apply(pipe.unet), pytest.raises(ValueError, match="temporal transformer"):
        attn(torch.zeros(2, 8, attn.to_q.in_features))  # outside its transformer: no (h, w)
    with FreeLong().apply(pipe):
        attn.set_processor(Custom())  # another method's processor, set after FreeLong
        with pytest.raises(ValueError, match="replaced by Custom"):
            run(pipe, 8)
