"""freqlab.models.tiny: the tiny random models built in code."""

from __future__ import annotations


def test_tiny_wan_is_deterministic():
    # Its UMT5 text encoder is put in eval mode: dropout would make equal calls differ.
    import torch

    from freqlab.models.tiny import tiny_wan

    pipe = tiny_wan()
    kwargs = dict(prompt="a cat", num_frames=5, height=16, width=16, num_inference_steps=2)
    first, second = (
        pipe(generator=torch.Generator().manual_seed(0), output_type="latent", **kwargs).frames
        for _ in range(2)
    )
    assert not pipe.text_encoder.training and torch.equal(first, second)


def test_tiny_cogvideox_is_cogvideox_2b_shaped_and_deterministic():
    import torch

    from freqlab.models.tiny import tiny_cogvideox

    pipe = tiny_cogvideox()
    config = pipe.scheduler.config
    # CogVideoX-2b's scheduler: zero-terminal-SNR DDIM, SNR shift 3, v-prediction, trailing.
    assert type(pipe.scheduler).__name__ == "CogVideoXDDIMScheduler"
    assert config.prediction_type == "v_prediction" and config.rescale_betas_zero_snr
    assert config.snr_shift_scale == 3.0 and config.timestep_spacing == "trailing"
    assert pipe.scheduler.alphas_cumprod[-1] < 1e-6  # pure noise at t = 999
    assert (pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial) == (4, 4)
    kwargs = dict(prompt="a cat", num_frames=5, height=16, width=16, num_inference_steps=2)
    first, second = (
        pipe(generator=torch.Generator().manual_seed(0), output_type="latent", **kwargs).frames
        for _ in range(2)
    )
    # T5 in eval mode (its dropout would make equal calls differ); latents (B, F, C, h, w).
    assert not pipe.text_encoder.training and torch.equal(first, second)
    assert first.shape == (1, 2, 16, 4, 4)


def test_tiny_wan22_switches_experts_at_the_boundary_and_freeinit_runs_both():
    # The Wan 2.2 A14B layout: `transformer` (high noise) for t >= 0.875 * 1000, `transformer_2`
    # (low noise) below, each with its own guidance scale. Shift 12 at 4 steps gives timesteps
    # (1000, 960, 857, 12): two steps each, two calls a step (WanPipeline runs the conditional
    # and the unconditional branch as separate calls).
    import torch

    from freqlab import FreeInit
    from freqlab.models import get_model_spec
    from freqlab.models.tiny import tiny_wan22
    from freqlab.sampling import CallCounter

    pipe = tiny_wan22()
    assert pipe.config.boundary_ratio == 0.875 and not pipe.text_encoder.training
    high, low = pipe.transformer.state_dict(), pipe.transformer_2.state_dict()
    assert any(not torch.equal(high[k], low[k]) for k in high)  # two experts, not one twice
    defaults = get_model_spec("tiny_wan22").defaults
    assert (defaults["guidance_scale"], defaults["guidance_scale_2"]) == (4.0, 3.0)
    kwargs = dict(
        prompt="a cat", num_frames=5, height=16, width=16, num_inference_steps=4,
        guidance_scale=4.0, guidance_scale_2=3.0,
    )  # fmt: skip
    with CallCounter(pipe.transformer) as first, CallCounter(pipe.transformer_2) as second:
        result = FreeInit(num_iters=2)(pipe, generator=torch.Generator().manual_seed(0), **kwargs)
    assert [lat.shape for lat in result.latents] == [(1, 16, 2, 2, 2)] * 2
    assert all(torch.isfinite(lat).all() for lat in result.latents)
    assert (first.count, second.count) == (2 * 4, 2 * 4)  # both experts, in both passes
    # FreeInit's own count (freqlab.sampling.denoisers) covers both experts.
    assert result.unet_calls == [8, 8]
    # The low-noise expert's weights matter: replacing them changes the result.
    torch.manual_seed(123)
    for p in pipe.transformer_2.parameters():
        p.data = torch.randn_like(p)
    other = FreeInit(num_iters=2)(pipe, generator=torch.Generator().manual_seed(0), **kwargs)
    assert not torch.equal(other.final, result.final)
