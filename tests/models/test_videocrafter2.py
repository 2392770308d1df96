"""VideoCrafter2's fps-conditioned UNet, its data-scaled DDIM sampler and its pipeline."""

import math

import pytest
import torch
from diffusers import DDIMScheduler, UNet3DConditionModel

from freqlab.freeinit import FreeInit
from freqlab.models import tiny
from freqlab.models.videocrafter2 import (
    DEFAULT_FPS,
    UNet3DVideoCrafterConditionModel,
    VideoCrafterDDIMScheduler,
    VideoCrafterPipeline,
    data_scale_schedule,
)
from freqlab.schedules import noising_rule


@pytest.fixture(scope="module")
def unet():
    return tiny.tiny_videocrafter2_unet().eval()


def _inputs(batch=2):
    gen = torch.Generator().manual_seed(0)
    sample = torch.randn(batch, 4, 3, 8, 8, generator=gen)
    text = torch.randn(batch, 5, 32, generator=gen)
    return sample, text


@torch.no_grad()
def test_fps_changes_the_prediction(unet):
    sample, text = _inputs()
    at_8 = unet(sample, 500, text, fps=8).sample
    at_28 = unet(sample, 500, text, fps=28).sample
    assert not torch.allclose(at_8, at_28)
    # Default: the config's default_fps (VideoCrafter2's 28); a per-video tensor works too.
    assert unet.config.default_fps == DEFAULT_FPS == 28
    torch.testing.assert_close(unet(sample, 500, text).sample, at_28)
    torch.testing.assert_close(unet(sample, 500, text, fps=torch.tensor([28, 28])).sample, at_28)
    with unet.fps_conditioning(8):
        torch.testing.assert_close(unet(sample, 500, text).sample, at_8)
    torch.testing.assert_close(unet(sample, 500, text).sample, at_28)
    assert not unet.time_embedding._forward_hooks  # nothing left attached


def test_fps_projection_is_videocrafters_timestep_embedding(unet):
    # lvdm timestep_embedding: freqs exp(-ln(10000) i / half), [cos, sin].
    fps = torch.tensor([28.0, 8.0])
    half = unet.config.block_out_channels[0] // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = fps[:, None] * freqs[None]
    expected = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    torch.testing.assert_close(unet.fps_proj(fps), expected)


@torch.no_grad()
def test_fps_embedding_is_added_to_the_timestep_embedding(unet):
    # Reference: a plain UNet3DConditionModel with the same weights whose time embedding gets
    # fps_embedding(fps_proj(fps)) added, as VideoCrafter2's `emb += self.fps_embedding(...)`.
    plain = UNet3DConditionModel(**tiny.UNET3D_CONFIG).eval()
    missing, unexpected = plain.load_state_dict(unet.state_dict(), strict=False)
    assert not missing and all(k.startswith("fps_") for k in unexpected)
    sample, text = _inputs()
    fps_emb = unet.fps_embedding(unet.fps_proj(torch.tensor([12.0, 12.0])))
    handle = plain.time_embedding.register_forward_hook(lambda m, i, out: out + fps_emb)
    expected = plain(sample, 250, text).sample
    handle.remove()
    torch.testing.assert_close(unet(sample, 250, text, fps=12).sample, expected)


@torch.no_grad()
def test_without_fps_cond_it_is_unet3d():
    torch.manual_seed(0)
    ours = UNet3DVideoCrafterConditionModel(**tiny.UNET3D_CONFIG, fps_cond=False).eval()
    torch.manual_seed(0)
    plain = UNet3DConditionModel(**tiny.UNET3D_CONFIG).eval()
    sample, text = _inputs()
    torch.testing.assert_close(ours(sample, 10, text).sample, plain(sample, 10, text).sample)
    with pytest.raises(ValueError, match="fps_cond=False"):
        ours(sample, 10, text, fps=8)


def test_fps_shape_is_checked(unet):
    sample, text = _inputs()
    with pytest.raises(ValueError, match=r"fps must be a number or a \(2,\) tensor"):
        unet(sample, 10, text, fps=torch.tensor([8, 8, 8]))
    assert not unet.time_embedding._forward_hooks


def test_config_round_trip(tmp_path, unet):
    unet.save_pretrained(tmp_path)
    loaded = UNet3DVideoCrafterConditionModel.from_pretrained(tmp_path)
    assert (
        loaded.config.fps_cond and loaded.config._class_name == "UNet3DVideoCrafterConditionModel"
    )
    assert "fps_embedding.linear_1.weight" in loaded.state_dict()


# --------------------------------------------------------------------------- scheduler


def test_data_scale_schedule():
    s = data_scale_schedule(1000, 1.0, 0.7, 400)
    assert s.shape == (1000,)
    assert s[0] == 1.0 and s[399] == pytest.approx(0.7) and s[999] == pytest.approx(0.7)
    assert s[200] == pytest.approx(1.0 - 0.3 * 200 / 399)
    assert (s[:400].diff() < 0).all()


def test_defaults_are_videocrafter2s():
    sched = VideoCrafterDDIMScheduler()
    cfg = sched.config
    assert (cfg.beta_schedule, cfg.beta_start, cfg.beta_end) == ("scaled_linear", 0.00085, 0.012)
    assert (cfg.timestep_spacing, cfg.steps_offset, cfg.set_alpha_to_one) == ("leading", 1, False)
    sched.set_timesteps(50)
    # LDM's uniform DDIM steps: range(0, 1000, 20) + 1.
    assert sched.timesteps.tolist() == list(range(981, 0, -20))
    assert noising_rule(sched) == "add_noise"


def test_scale_end_one_is_plain_ddim():
    ours = VideoCrafterDDIMScheduler(scale_end=1.0)
    plain = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    ours.set_timesteps(10)
    plain.set_timesteps(10)
    gen = torch.Generator().manual_seed(0)
    x, eps = torch.randn(2, 4, 4, 4, generator=gen), torch.randn(2, 4, 4, 4, generator=gen)
    for t in ours.timesteps:
        assert torch.equal(ours.step(eps, t, x).prev_sample, plain.step(eps, t, x).prev_sample)
    t = torch.tensor([999, 10])
    assert torch.equal(ours.add_noise(x, eps, t), plain.add_noise(x, eps, t))


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_step_matches_videocrafters_ddim_sampler(eta):
    # lvdm/models/samplers/ddim.py p_sample_ddim with use_scale.
    sched = VideoCrafterDDIMScheduler()
    sched.set_timesteps(25)
    gen = torch.Generator().manual_seed(0)
    x, e, z = (torch.randn(1, 4, 4, 4, generator=gen) for _ in range(3))
    a = sched.alphas_cumprod.double()
    scales = data_scale_schedule(1000, 1.0, 0.7, 400).double()
    for t in sched.timesteps.tolist():
        prev = t - 40
        a_t, a_prev = a[t], (a[prev] if prev >= 0 else a[0])
        s_t, s_prev = scales[t], (scales[prev] if prev >= 0 else scales[0])
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
        pred_x0 = (x.double() - (1 - a_t).sqrt() * e) / a_t.sqrt() / s_t
        dir_xt = (1 - a_prev - sigma**2).sqrt() * e
        expected = a_prev.sqrt() * s_prev * pred_x0 + dir_xt + sigma * z
        out = sched.step(e, t, x, eta=eta, variance_noise=z if eta else None)
        torch.testing.assert_close(out.prev_sample.double(), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out.pred_original_sample.double(), pred_x0, rtol=1e-5, atol=1e-5)


def test_add_noise_scales_the_clean_sample():
    sched = VideoCrafterDDIMScheduler()
    x0, noise = torch.ones(2, 1, 1, 1), torch.zeros(2, 1, 1, 1)
    t = torch.tensor([0, 999])
    out = sched.add_noise(x0, noise, t).flatten()
    a = sched.alphas_cumprod
    torch.testing.assert_close(out, torch.stack([a[0].sqrt() * 1.0, a[999].sqrt() * 0.7]))


def test_per_video_generators_with_frames_folded_into_the_batch():
    # TextToVideoSDPipeline steps (videos x frames, C, h, w) with one generator per video.
    sched = VideoCrafterDDIMScheduler()
    sched.set_timesteps(5)
    x = torch.zeros(2 * 3, 4, 2, 2)
    t = sched.timesteps[0]
    gens = [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)]
    out = sched.step(x, t, x, eta=1.0, generator=gens).prev_sample
    alone = sched.step(x[:3], t, x[:3], eta=1.0, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(out[3:], alone.prev_sample)


# --------------------------------------------------------------------------- pipeline


CALL = dict(num_frames=4, height=32, width=32, num_inference_steps=2, output_type="latent")


def test_pipeline_passes_fps():
    pipe = tiny.tiny_videocrafter2()

    def run(**kwargs):
        return pipe("a red circle", generator=torch.Generator().manual_seed(0), **CALL, **kwargs)

    default, at_28, at_8 = run().frames, run(fps=28).frames, run(fps=8).frames
    torch.testing.assert_close(default, at_28)
    assert not torch.allclose(at_8, at_28)


def test_pipeline_refuses_fps_without_fps_conditioning():
    base = tiny.tiny_modelscope()
    pipe = VideoCrafterPipeline(
        vae=base.vae,
        text_encoder=base.text_encoder,
        tokenizer=base.tokenizer,
        unet=base.unet,
        scheduler=VideoCrafterDDIMScheduler(),
    )
    with pytest.raises(ValueError, match="no fps conditioning"):
        pipe("a", fps=8, **CALL)


def test_freeinit_batch_with_eta_and_per_video_generators():
    # eta = 1.0 (VideoCrafter2's sampler) with FreeInit's per-video generators: each video is
    # the same alone as in a batch.
    pipe = tiny.tiny_videocrafter2()
    freeinit = FreeInit(num_iters=2)
    kwargs = dict(CALL)
    kwargs.pop("output_type")
    batch = freeinit(
        pipe,
        prompt=["a red circle", "a blue square"],
        generator=[torch.Generator().manual_seed(3), torch.Generator().manual_seed(4)],
        fps=8,
        **kwargs,
    )
    alone = freeinit(
        pipe, prompt="a blue square", generator=[torch.Generator().manual_seed(4)], fps=8, **kwargs
    )
    torch.testing.assert_close(batch.latents[-1][1:], alone.latents[-1], rtol=1e-4, atol=1e-4)


def test_pipeline_defaults_are_in_its_signature():
    # FreeInit reads defaults (height, width, ...) off the signature, as the pipeline applies them.
    import inspect

    params = inspect.signature(VideoCrafterPipeline.__call__).parameters
    defaults = {
        k: params[k].default for k in ("height", "width", "num_frames", "guidance_scale", "eta")
    }
    assert defaults == dict(height=320, width=512, num_frames=16, guidance_scale=12.0, eta=1.0)
    assert "latents" in params and "output_type" in params and params["fps"].default is None
