"""freqlab.models.tiny_hunyuan15: the tiny HunyuanVideo 1.5 pipeline built in code.

Shapes: 9 frames at 32 x 32 px are latents ``(1, 8, 3, 8, 8)`` (temporal /4, spatial /4, 8
channels) and decode back to ``(1, 9, 3, 32, 32)`` frames.
"""

from __future__ import annotations

import pytest

CALL = dict(num_frames=9, height=32, width=32, num_inference_steps=2)
LATENT_SHAPE = (1, 8, 3, 8, 8)


@pytest.fixture(scope="module")
def pipe():
    from freqlab.models.tiny_hunyuan15 import tiny_hunyuanvideo15

    return tiny_hunyuanvideo15()


def _latents(seed: int = 0):
    import torch

    return torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(seed))


def test_builds_offline_with_tiny_components_in_eval_mode(network_attempts):
    from diffusers import HunyuanVideo15Pipeline

    from freqlab.models.tiny_hunyuan15 import tiny_hunyuanvideo15

    pipe = tiny_hunyuanvideo15()
    assert isinstance(pipe, HunyuanVideo15Pipeline) and network_attempts == []
    models = ("text_encoder", "text_encoder_2", "vae", "transformer")
    assert not any(getattr(pipe, name).training for name in models)
    assert (pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial) == (4, 4)
    assert pipe.num_channels_latents == 8
    # 480p t2v settings: scheduler shift 5, guider scale 6 (the pipeline has no guidance_scale).
    assert pipe.scheduler.config.shift == 5.0 and pipe.guider.guidance_scale == 6.0

    def count(module):
        return sum(p.numel() for p in module.parameters())

    # Every model is tiny except the ByT5 projection, whose 2048 hidden width diffusers fixes.
    fixed = count(pipe.transformer.context_embedder_2)
    assert count(pipe.transformer) - fixed < 100_000
    assert all(count(getattr(pipe, name)) < 300_000 for name in models[:3])


def test_chat_template_keeps_the_pipelines_108_token_crop(pipe):
    # The pipeline crops the first 108 tokens of the chat-formatted prompt (the system turn with
    # the real tokenizer): here too the kept part starts with the user's prompt.
    from diffusers.pipelines.hunyuan_video1_5.pipeline_hunyuan_video1_5 import format_text_input

    inputs = pipe.tokenizer.apply_chat_template(
        format_text_input(["a cat"], pipe.system_message),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        padding="max_length",
        max_length=pipe.tokenizer_max_length + pipe.prompt_template_encode_start_idx,
        truncation=True,
        return_tensors="pt",
    )
    assert inputs.input_ids.shape == (1, 1108)
    kept = inputs.input_ids[0, pipe.prompt_template_encode_start_idx :]
    text = pipe.tokenizer.decode(kept[: int(inputs.attention_mask[0, 108:].sum())])
    assert text == "a cat<|im_end|>\n<|im_start|>assistant\n"
    # Right padding with <|endoftext|>, masked out.
    assert kept[-1] == pipe.tokenizer.pad_token_id and inputs.attention_mask[0, -1] == 0


def test_equal_seeds_give_equal_weights():
    import torch

    from freqlab.models.tiny_hunyuan15 import tiny_hunyuanvideo15

    first, second, other = (tiny_hunyuanvideo15(seed) for seed in (0, 0, 1))
    for name in ("text_encoder", "text_encoder_2", "vae", "transformer"):
        a, b, c = (getattr(p, name).state_dict() for p in (first, second, other))
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert any(not torch.equal(a[k], c[k]) for k in a if a[k].dtype.is_floating_point)


def test_call_with_latents_is_deterministic_and_latent_shaped(pipe):
    import torch

    from freqlab.models.tiny_hunyuan15 import tiny_hunyuanvideo15

    # The quoted text is a glyph text: the ByT5 encoder runs too.
    kwargs = dict(prompt='a sign that says "hello"', output_type="latent", **CALL)
    first = pipe(latents=_latents(), **kwargs).frames
    second = pipe(latents=_latents(), **kwargs).frames
    rebuilt = tiny_hunyuanvideo15()(latents=_latents(), **kwargs).frames
    assert first.shape == LATENT_SHAPE and first.dtype == torch.float32
    assert torch.isfinite(first).all() and not torch.equal(first, _latents())
    assert torch.equal(first, second) and torch.equal(first, rebuilt)


def test_pipeline_noise_is_randn_in_latent_order(pipe):
    # Without latents= the pipeline draws randn (B, C, T, h, w) in the transformer's dtype from
    # the generator: passing that same draw as latents= gives the same result.
    import torch

    kwargs = dict(prompt="a cat", output_type="latent", **CALL)
    own = pipe(generator=torch.Generator().manual_seed(0), **kwargs).frames
    assert torch.equal(own, pipe(latents=_latents(0), **kwargs).frames)


def test_decodes_to_4k_plus_1_frames(pipe):
    import torch

    video = pipe(prompt="a cat", latents=_latents(), output_type="pt", **CALL).frames
    # (B, F, C, H, W) in [0, 1]: 3 latent frames decode to (3 - 1) * 4 + 1 = 9 frames.
    assert video.shape == (1, 9, 3, 32, 32)
    assert torch.isfinite(video).all() and 0 <= video.min() and video.max() <= 1


def test_freeinit_runs_on_the_tiny_pipeline(pipe):
    import torch

    from freqlab import FreeInit
    from freqlab.sampling import CallCounter

    kwargs = dict(prompt="a cat", **CALL)
    with CallCounter(pipe.transformer) as counter:
        result = FreeInit(num_iters=2)(pipe, generator=torch.Generator().manual_seed(0), **kwargs)
    assert [lat.shape for lat in result.latents] == [LATENT_SHAPE] * 2
    assert all(torch.isfinite(lat).all() for lat in result.latents)
    # The guider runs the conditional and unconditional branches as separate calls.
    assert counter.count == 2 * 2 * 2 and result.unet_calls == [4, 4]
    # Pass 0 starts from the pipeline's own noise for the same generator.
    own = pipe(generator=torch.Generator().manual_seed(0), output_type="latent", **kwargs).frames
    assert torch.equal(result.latents[0], own)
