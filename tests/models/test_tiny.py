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
