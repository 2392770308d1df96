"""Tiny LTX-Video and Mochi pipelines, built in code with seeded random weights (offline tests).

Each keeps its family's layout where freqlab's samplers depend on it (latent layout and packing,
temporal compression, scheduler and sigma schedule) and shrinks everything else:

* **LTX-Video** (:func:`tiny_ltx`): ``LTXPipeline`` packs ``(B, C, F, h, w)`` latents into tokens
  ``(B, F·h·w, C)`` (patch 1 x 1 x 1, as LTX-Video 0.9.x) and its VAE compresses time by 8 (frames
  8k + 1); spatially by 8 here (the real one by 32), so 32 x 32 frames give 4 x 4 latents.
* **Mochi** (:func:`tiny_mochi`): ``MochiPipeline`` over ``(B, 12, F, h, w)`` latents (12 channels,
  as its pipeline's decode assumes), a VAE compressing time by 6 (frames 6k + 1) and space by 8, and
  Mochi's inverted-sigma flow-matching Euler schedule.

Both use a T5 encoder over the byte-level tokenizer (:mod:`freqlab.models.tokenizer`) and are in
eval mode: T5's dropout would make two calls with the same generators differ.
"""

from __future__ import annotations

import torch
from diffusers import (
    AutoencoderKLLTXVideo,
    AutoencoderKLMochi,
    FlowMatchEulerDiscreteScheduler,
    LTXPipeline,
    LTXVideoTransformer3DModel,
    MochiPipeline,
    MochiTransformer3DModel,
)
from transformers import T5Config, T5EncoderModel

from freqlab.models.tiny import T5_CONFIG
from freqlab.models.tokenizer import byte_level_clip_tokenizer

__all__ = [
    "LTX_SCHEDULER_CONFIG",
    "MOCHI_SCHEDULER_CONFIG",
    "tiny_ltx",
    "tiny_mochi",
]

LTX_TRANSFORMER_CONFIG = dict(
    in_channels=8,
    out_channels=8,
    patch_size=1,
    patch_size_t=1,
    num_attention_heads=2,
    attention_head_dim=8,
    cross_attention_dim=16,
    num_layers=1,
    caption_channels=32,  # the T5's d_model
)
# Three spatio-temporal downsamplings: time /8 (LTX-Video's), space /8 (patch 1; LTX's is /32).
LTX_VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=8,
    block_out_channels=(8, 8, 8, 8),
    decoder_block_out_channels=(8, 8, 8, 8),
    layers_per_block=(1, 1, 1, 1, 1),
    decoder_layers_per_block=(1, 1, 1, 1, 1),
    spatio_temporal_scaling=(True, True, True, False),
    decoder_spatio_temporal_scaling=(True, True, True, False),
    decoder_inject_noise=(False, False, False, False, False),
    patch_size=1,
    patch_size_t=1,
    encoder_causal=True,
    decoder_causal=False,
)
# Lightricks/LTX-Video scheduler/scheduler_config.json: flow-matching Euler whose shift follows the
# token count (use_dynamic_shifting; LTXPipeline computes mu from the latent sequence length).
LTX_SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    shift=1.0,
    use_dynamic_shifting=True,
    base_shift=0.95,
    max_shift=2.05,
    base_image_seq_len=1024,
    max_image_seq_len=4096,
    shift_terminal=0.1,
)

MOCHI_TRANSFORMER_CONFIG = dict(
    patch_size=2,
    num_attention_heads=2,
    attention_head_dim=8,
    num_layers=1,
    pooled_projection_dim=16,
    in_channels=12,
    text_embed_dim=32,  # the T5's d_model
    time_embed_dim=4,
    max_sequence_length=16,
)
# Time /6 (expansions 1, 2, 3) and space /8, as Mochi's VAE; 32 channels per block (its group
# norms have 32 groups), one layer each, no attention.
MOCHI_VAE_CONFIG = dict(
    encoder_block_out_channels=(32, 32, 32, 32),
    decoder_block_out_channels=(32, 32, 32, 32),
    layers_per_block=(1, 1, 1, 1, 1),
    add_attention_block=(False, False, False, False, False),
)
# genmo/mochi-1-preview scheduler/scheduler_config.json: Mochi samples with inverted sigmas
# (its model's t = 0 is noise); MochiPipeline passes its own linear-quadratic sigma schedule.
MOCHI_SCHEDULER_CONFIG = dict(num_train_timesteps=1000, shift=1.0, invert_sigmas=True)


def _t5(seed: int) -> T5EncoderModel:
    torch.manual_seed(seed)
    return T5EncoderModel(T5Config(**T5_CONFIG)).eval()


def tiny_ltx(seed: int = 0) -> LTXPipeline:
    """An LTX-Video-layout ``LTXPipeline`` (token-packed latents, VAE time /8 and space /8, T5,
    dynamically shifted flow-matching Euler) with seeded random weights."""
    text_encoder = _t5(seed)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLLTXVideo(**LTX_VAE_CONFIG)
    torch.manual_seed(seed + 2)
    transformer = LTXVideoTransformer3DModel(**LTX_TRANSFORMER_CONFIG)
    pipe = LTXPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**LTX_SCHEDULER_CONFIG),
        vae=vae,
        text_encoder=text_encoder,
        # LTXPipeline pads prompts to max_sequence_length (128 by default).
        tokenizer=byte_level_clip_tokenizer(model_max_length=128),
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_mochi(seed: int = 0) -> MochiPipeline:
    """A Mochi-layout ``MochiPipeline`` (12-channel latents, VAE time /6 and space /8, T5, inverted
    flow-matching Euler) with seeded random weights."""
    text_encoder = _t5(seed)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLMochi(**MOCHI_VAE_CONFIG)
    torch.manual_seed(seed + 2)
    transformer = MochiTransformer3DModel(**MOCHI_TRANSFORMER_CONFIG)
    pipe = MochiPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**MOCHI_SCHEDULER_CONFIG),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=byte_level_clip_tokenizer(model_max_length=16),
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
