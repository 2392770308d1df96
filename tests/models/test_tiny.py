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
