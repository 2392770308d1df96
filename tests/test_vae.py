"""freqlab.vae: chunked decoding matches unchunked decoding and each pipeline's own ``output_type="pt"``
(frame VAEs and every video-VAE family); encoding batches videos into the clean latents a model is
trained on (video VAEs: their pipeline's normalisation inverted, their frame rule enforced)."""

from __future__ import annotations

import pytest
import torch

from freqlab.data.shapes import shape_videos
from freqlab.vae import VIDEO_VAES, check_chunk_size, decode_latents, encode_frames

KW = dict(num_frames=8, height=32, width=32, num_inference_steps=2, guidance_scale=7.5)
PROMPTS = ["a cat", "a dog"]
# Frames are in [0, 1] (one 8-bit level = 3.9e-3). Float32 conv results depend on the number of
# frames per VAE call and on the CPU's kernels: chunks of 5 vs 16 differ by 7e-7 here, 5e-6 with
# oneDNN off (another algorithm); 1e-4 leaves 20x, and a wrong scaling or shift is off by > 0.01.
VAE_ATOL = 1e-4


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


@pytest.fixture(params=["tiny_animatediff", "tiny_modelscope"])
def pipe(request):
    return request.getfixturevalue(request.param)


def test_matches_pipeline_pt_output(pipe):
    latents = pipe(prompt=PROMPTS, generator=gens(1, 2), output_type="latent", **KW).frames
    frames = pipe(prompt=PROMPTS, generator=gens(1, 2), output_type="pt", **KW).frames
    video = decode_latents(pipe, latents)
    assert video.shape == frames.shape == (2, 8, 3, 32, 32)
    assert video.dtype == torch.float32
    assert 0 <= video.min() and video.max() <= 1
    # Same expression as the pipelines' decode, maybe other VAE batches (TextToVideoSD decodes
    # all B*T frames at once): equal up to float32 round-off.
    torch.testing.assert_close(video, frames, rtol=0, atol=VAE_ATOL)


def test_chunked_equals_unchunked(pipe):
    latents = torch.randn(2, 4, 8, 4, 4, generator=torch.Generator().manual_seed(0))
    whole = decode_latents(pipe, latents, chunk_size=16)  # all 16 frames at once
    for chunk in (1, 3, 5):
        torch.testing.assert_close(
            decode_latents(pipe, latents, chunk), whole, rtol=0, atol=VAE_ATOL
        )


def test_chunks_bound_the_vae_batch(tiny_animatediff):
    sizes = []
    handle = tiny_animatediff.vae.decoder.register_forward_pre_hook(
        lambda module, args: sizes.append(args[0].shape[0])
    )
    try:
        decode_latents(tiny_animatediff, torch.randn(2, 4, 8, 4, 4), chunk_size=6)
    finally:
        handle.remove()
    assert sizes == [6, 6, 4]


@pytest.mark.parametrize("chunk_size", [0, -1, 1.5, True, "4", None])
def test_bad_chunk_size(tiny_animatediff, chunk_size):
    with pytest.raises(ValueError, match="chunk_size"):
        decode_latents(tiny_animatediff, torch.randn(1, 4, 2, 4, 4), chunk_size)
    with pytest.raises(ValueError, match="chunk_size"):
        check_chunk_size(chunk_size)


def test_bad_latents_and_vae(tiny_animatediff):
    with pytest.raises(ValueError, match="latents"):
        decode_latents(tiny_animatediff, torch.randn(4, 2, 4, 4))
    with pytest.raises(ValueError, match="latents"):
        decode_latents(tiny_animatediff, torch.zeros(1, 4, 2, 4, 4, dtype=torch.long))

    class NoVae:
        vae = None

    with pytest.raises(ValueError, match="pipe.vae"):
        decode_latents(NoVae(), torch.randn(1, 4, 2, 4, 4))


# --------------------------------------------------------------------------- video VAEs

WAN_KW = dict(num_frames=9, height=32, width=32, num_inference_steps=2, guidance_scale=5.0)


@pytest.fixture(scope="module")
def wan():
    from freqlab.models.tiny import tiny_wan

    pipe = tiny_wan()
    # Built from configs, its UMT5 text encoder is in train mode (dropout): without eval() two
    # pipeline calls with the same generators give different latents.
    for module in (pipe.text_encoder, pipe.transformer, pipe.vae):
        module.eval()
    return pipe


def test_wan_decode_matches_the_pipeline(wan):
    latents = wan(prompt=PROMPTS, generator=gens(1, 2), output_type="latent", **WAN_KW).frames
    frames = wan(prompt=PROMPTS, generator=gens(1, 2), output_type="pt", **WAN_KW).frames
    as_np = wan(prompt=PROMPTS, generator=gens(1, 2), output_type="np", **WAN_KW).frames
    assert latents.shape == (2, 16, 3, 4, 4)  # 9 frames -> 1 + 2 latent frames
    # All the batch in one VAE call, as the pipeline: the same numbers bit for bit.
    video = decode_latents(wan, latents, chunk_size=18)
    assert video.shape == frames.shape == (2, 9, 3, 32, 32)  # T: the decoded frame count
    assert video.dtype == torch.float32 and 0 <= video.min() and video.max() <= 1
    torch.testing.assert_close(video, frames, rtol=0, atol=0)
    torch.testing.assert_close(video.permute(0, 1, 3, 4, 2).numpy(), as_np, rtol=0, atol=0)
    # One video per call (default chunk 16 < 2 x 9 frames): float32 round-off of the VAE's batch
    # size only (5e-6 measured); a wrong mean/std is off by > 0.01.
    torch.testing.assert_close(decode_latents(wan, latents), frames, rtol=0, atol=VAE_ATOL)


def test_wan_decode_calls_hold_whole_videos_up_to_chunk_size(wan):
    sizes = []
    handle = wan.vae.post_quant_conv.register_forward_pre_hook(
        lambda module, args: sizes.append(args[0].shape[0])
    )
    latents = torch.randn(5, 16, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    try:
        video = decode_latents(wan, latents, chunk_size=10)  # 5 frames a video: 2 per call
        decode_latents(wan, latents[:2], chunk_size=1)  # never less than one video
    finally:
        handle.remove()
    assert sizes == [2, 2, 1, 1, 1]
    assert video.shape == (5, 5, 3, 32, 32)


def test_wan_decode_honours_the_vaes_tiling(wan):
    latents = torch.randn(1, 16, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    plain = decode_latents(wan, latents)
    wan.vae.enable_tiling(32, 32, 16, 16)  # 64 px frames: 4 overlapping 32 px tiles
    try:
        tiled = decode_latents(wan, latents)
    finally:
        wan.vae.disable_tiling()
    assert tiled.shape == plain.shape == (1, 5, 3, 64, 64)
    # Tiles blend at their seams: close to the untiled decode, not equal.
    assert 0 < (tiled - plain).abs().max() < 0.5


def test_unknown_vae_is_refused_naming_the_known_ones(wan):
    class Other:
        vae = torch.nn.Conv3d(16, 3, 1)

    known = r"AutoencoderKLWan, AutoencoderKLCogVideoX, AutoencoderKLLTXVideo, .*\), got Conv3d"
    with pytest.raises(ValueError, match=known):
        decode_latents(Other(), torch.randn(1, 16, 2, 4, 4))
    with pytest.raises(ValueError, match="latents"):
        decode_latents(wan, torch.randn(16, 2, 4, 4))


# --------------------------------------------------------------------------- encoding


def test_encode_frames_batches_and_inputs_do_not_change_latents(tiny_animatediff):
    vae = tiny_animatediff.vae
    videos = list(shape_videos(3, 4, 16, 16, seed=1))
    batched = list(encode_frames(vae, videos, batch_size=2, chunk_size=3, progress=False))
    assert [z.shape for z in batched] == [(2, 4, 4, 4, 4), (1, 4, 4, 4, 4)]
    single = torch.cat(list(encode_frames(vae, videos, batch_size=1, progress=False)))
    torch.testing.assert_close(torch.cat(batched), single, atol=1e-5, rtol=1e-5)
    floats = [v.float() / 255 for v in videos]
    from_float = torch.cat(list(encode_frames(vae, floats, batch_size=3, progress=False)))
    torch.testing.assert_close(from_float, single, atol=1e-5, rtol=1e-5)
    expected = (
        vae.encode(videos[0].float() / 127.5 - 1).latent_dist.mean * vae.config.scaling_factor
    )
    torch.testing.assert_close(single[0], expected.permute(1, 0, 2, 3), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="vae"):
        next(encode_frames(torch.nn.Linear(2, 2), videos))


COG_KW = dict(num_frames=9, height=32, width=32, num_inference_steps=2, guidance_scale=6.0)


@pytest.fixture(scope="module")
def cogvideox():
    from freqlab.models.tiny import tiny_cogvideox

    return tiny_cogvideox()


def test_cogvideox_decode_matches_the_pipeline(cogvideox):
    from freqlab.sampling import from_pipeline_layout, latent_layout

    own = cogvideox(prompt=PROMPTS, generator=gens(1, 2), output_type="latent", **COG_KW).frames
    frames = cogvideox(prompt=PROMPTS, generator=gens(1, 2), output_type="pt", **COG_KW).frames
    assert own.shape == (2, 3, 16, 8, 8)  # CogVideoXPipeline's (B, F, C, h, w)
    latents = from_pipeline_layout(own, latent_layout(cogvideox))  # freqlab's (B, C, F, h, w)
    # The whole batch in one VAE call, as the pipeline: the same numbers bit for bit.
    video = decode_latents(cogvideox, latents, chunk_size=18)
    assert video.shape == frames.shape == (2, 9, 3, 32, 32)  # 3 latent frames -> 4 * 2 + 1
    assert video.dtype == torch.float32 and 0 <= video.min() and video.max() <= 1
    torch.testing.assert_close(video, frames, rtol=0, atol=0)
    # One video per call: float32 round-off of the VAE's batch size only; a missing
    # 1 / scaling_factor (1.15) is off by far more.
    torch.testing.assert_close(decode_latents(cogvideox, latents), frames, rtol=0, atol=VAE_ATOL)
    # The pipeline's own layout, unconverted, is refused (C = 16, not 3).
    with pytest.raises(ValueError, match=r"C = 16 for AutoencoderKLCogVideoX"):
        decode_latents(cogvideox, own)


@pytest.mark.parametrize(
    ("name", "kw", "frames"),
    [
        # LTX-Video: token-packed latents (freqlab unpacks them), per-channel mean/std and the
        # VAE's scaling factor, time /8: 2 latent frames -> 9 frames.
        ("tiny_ltx", dict(num_frames=9, height=32, width=32), 9),
        # Mochi: 12-channel mean/std, time /6: 3 latent frames -> 13 frames.
        ("tiny_mochi", dict(num_frames=13, height=32, width=32), 13),
        # HunyuanVideo 1.5: 1 / scaling_factor only, time /4: 3 latent frames -> 9 frames.
        ("tiny_hunyuanvideo15", dict(num_frames=9, height=32, width=32), 9),
    ],
)
def test_ltx_mochi_and_hunyuan_decode_matches_the_pipeline(name, kw, frames):
    from freqlab.latents import latent_packing, unpack_latents
    from freqlab.models import load_model

    pipe = load_model(name)
    kw = dict(kw, num_inference_steps=2)
    if name != "tiny_hunyuanvideo15":  # which guides with its guider's scale
        kw["guidance_scale"] = 3.0
    # HunyuanVideo 1.5's VAE cannot decode a batch (diffusers 0.42): its pipeline's output_type
    # "pt" is compared one video at a time; freqlab decodes the batch one video per VAE call.
    prompts = PROMPTS[:1] if name == "tiny_hunyuanvideo15" else PROMPTS
    seeds = (1,) if name == "tiny_hunyuanvideo15" else (1, 2)
    own = pipe(prompt=prompts, generator=gens(*seeds), output_type="latent", **kw).frames
    video = pipe(prompt=prompts, generator=gens(*seeds), output_type="pt", **kw).frames
    packing = latent_packing(pipe)
    if packing is not None:  # LTX: (B, T*h*w, C) tokens
        latents = unpack_latents(own, (2, own.shape[-1], (frames - 1) // 8 + 1, 4, 4), *packing)
    else:
        latents = own
    # The whole batch in one VAE call, as the pipeline: bit for bit.
    decoded = decode_latents(pipe, latents, chunk_size=2 * frames)
    assert decoded.shape == video.shape == (len(prompts), frames, 3, 32, 32)
    torch.testing.assert_close(decoded, video, rtol=0, atol=0)
    # One video per call: the VAE's float32 round-off over its batch size only.
    torch.testing.assert_close(decode_latents(pipe, latents), video, rtol=0, atol=VAE_ATOL)


def test_hunyuan_decodes_a_batch_one_video_per_vae_call():
    from freqlab.models import load_model

    pipe = load_model("tiny_hunyuanvideo15")
    latents = torch.randn(2, 8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    videos = decode_latents(pipe, latents, chunk_size=64)  # would be one call of 2 otherwise
    assert videos.shape == (2, 9, 3, 32, 32)
    torch.testing.assert_close(videos[1:], decode_latents(pipe, latents[1:]), rtol=0, atol=0)


# --------------------------------------------------------------------------- encoding: video VAEs

# One tiny model per VIDEO_VAES family, and its frame rule T = f k + 1 (f: the VAE's time factor).
VIDEO_FAMILIES = {
    "tiny_wan": 4,
    "tiny_cogvideox": 4,
    "tiny_ltx": 8,
    "tiny_mochi": 6,
    "tiny_hunyuanvideo15": 4,
}


def _family_vae(name):
    """``name``'s VAE, eval mode, with statistics that make every term of its normalisation
    matter: the tiny LTX VAE's latents_mean / latents_std buffers are 0 / 1 and its (and Mochi's)
    scaling_factor 1, under which a misplaced or missing term would go unseen."""
    from freqlab.models import load_model

    vae = load_model(name).vae.eval()
    gen = torch.Generator().manual_seed(3)
    if name == "tiny_ltx":
        vae.latents_mean.copy_(torch.randn(vae.latents_mean.shape, generator=gen) * 0.3)
        vae.latents_std.copy_(torch.rand(vae.latents_std.shape, generator=gen) + 0.5)
    if name in ("tiny_ltx", "tiny_mochi"):
        vae.register_to_config(scaling_factor=0.8)
    return vae


def test_every_video_vae_family_is_covered():
    from freqlab.models import load_model

    covered = {type(load_model(name).vae).__name__ for name in VIDEO_FAMILIES}
    assert covered == set(VIDEO_VAES)


@pytest.mark.parametrize("name", VIDEO_FAMILIES)
def test_normalise_inverts_unnormalise(name):
    vae = _family_vae(name)
    entry = VIDEO_VAES[type(vae).__name__]
    channels = vae.config.get("latent_channels") or vae.config.get("z_dim")
    z = torch.randn(2, channels, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(entry.normalise(vae, entry.unnormalise(vae, z)), z)
    torch.testing.assert_close(entry.unnormalise(vae, entry.normalise(vae, z)), z)
    # Not the identity (so the round trip tests something): every family rescales or shifts.
    assert (entry.normalise(vae, z) - z).abs().max() > 0.02


def _training_latents(name, vae, z):
    # Each family's formula written out, independently of freqlab.vae's table.
    cfg = vae.config
    if name == "tiny_wan":  # WanImageToVideoPipeline.prepare_latents
        mean = torch.tensor(cfg.latents_mean).view(1, -1, 1, 1, 1)
        return (z - mean) / torch.tensor(cfg.latents_std).view(1, -1, 1, 1, 1)
    if name in ("tiny_cogvideox", "tiny_hunyuanvideo15"):  # their I2V pipelines' encode
        return z * cfg.scaling_factor
    if name == "tiny_ltx":  # LTXPipeline._normalize_latents
        mean, std = vae.latents_mean, vae.latents_std
    else:  # Mochi: the inverse of MochiPipeline's decode normalisation
        mean, std = torch.tensor(cfg.latents_mean), torch.tensor(cfg.latents_std)
    return (z - mean.view(1, -1, 1, 1, 1)) * cfg.scaling_factor / std.view(1, -1, 1, 1, 1)


@pytest.mark.parametrize("name", VIDEO_FAMILIES)
def test_encode_frames_gives_each_familys_training_latents(name):
    factor = VIDEO_FAMILIES[name]
    frames = 2 * factor + 1  # 3 latent frames
    vae = _family_vae(name)
    videos = list(shape_videos(2, frames, 32, 32, seed=1))
    calls = []
    handle = vae.encoder.register_forward_pre_hook(lambda m, args: calls.append(len(args[0])))
    try:
        (latents,) = encode_frames(vae, videos, batch_size=2, progress=False)
    finally:
        handle.remove()
    # Both videos in each encoder call (Wan's runs once per 4-frame chunk), except HunyuanVideo
    # 1.5's, which cannot take a batch (diffusers 0.42): one video per call.
    assert set(calls) == ({1} if name == "tiny_hunyuanvideo15" else {2})
    x = torch.stack(videos).float().div(127.5).sub(1).permute(0, 2, 1, 3, 4)  # (B, 3, T, H, W)
    with torch.no_grad():
        z = torch.cat([vae.encode(clip[None]).latent_dist.mean for clip in x])
    expected = _training_latents(name, vae, z)
    assert latents.shape == expected.shape and latents.shape[:1] + latents.shape[2:3] == (2, 3)
    assert latents.dtype == torch.float32
    # Batched against per-video VAE calls: float32 round-off only (<= 6.2e-6 measured); a
    # missing or misplaced scaling_factor, mean or std is off by > 0.02.
    torch.testing.assert_close(latents, expected, rtol=0, atol=1e-4)
    # A clip off the VAE's frame rule is refused, naming the rule, not silently truncated.
    with pytest.raises(ValueError, match=rf"{factor}k \+ 1 frames .*got {frames + 1} frames"):
        next(encode_frames(vae, list(shape_videos(1, frames + 1, 32, 32)), progress=False))
