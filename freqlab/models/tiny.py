"""Tiny text-to-video pipelines with seeded random weights, built fully offline.

They share the architecture of the real models (AnimateDiff's UNetMotionModel via a MotionAdapter,
ModelScope's UNet3DConditionModel), so FreeInit and FreeU run through the same diffusers code
paths, in about a second per call on CPU. Configs follow ``shared/reference/cpu-environment.md``.
"""

from __future__ import annotations

import torch
from diffusers import (
    AnimateDiffPipeline,
    AutoencoderKL,
    DDIMScheduler,
    MotionAdapter,
    TextToVideoSDPipeline,
    UNet2DConditionModel,
    UNet3DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel

from freqlab.models.tokenizer import byte_level_clip_tokenizer

TEXT_CONFIG = dict(
    vocab_size=514,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=77,
    bos_token_id=512,
    eos_token_id=513,
    pad_token_id=513,
    layer_norm_eps=1e-5,
    projection_dim=32,
)
VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    block_out_channels=(16, 32, 32),
    down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3,
    layers_per_block=1,
    norm_num_groups=8,
    sample_size=64,
)
# AnimateDiff's documented scheduler: DDIM, linear beta 0.00085 -> 0.012, linspace spacing.
SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    timestep_spacing="linspace",
)
UNET2D_CONFIG = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32,
    attention_head_dim=8,
    norm_num_groups=8,
)
MOTION_ADAPTER_CONFIG = dict(
    block_out_channels=(32, 64),
    motion_layers_per_block=1,
    motion_norm_num_groups=8,
    motion_num_attention_heads=4,
    motion_max_seq_length=32,
    use_motion_mid_block=True,
)
UNET3D_CONFIG = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
    up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
    cross_attention_dim=32,
    attention_head_dim=8,
    norm_num_groups=8,
)


def _text_and_vae(seed: int) -> tuple[CLIPTextModel, AutoencoderKL]:
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(**VAE_CONFIG)
    return text_encoder, vae


def tiny_animatediff(seed: int = 0) -> AnimateDiffPipeline:
    """AnimateDiffPipeline (UNetMotionModel, ~1.2M params) with seeded random weights."""
    text_encoder, vae = _text_and_vae(seed)
    torch.manual_seed(seed + 2)
    unet = UNet2DConditionModel(**UNET2D_CONFIG)
    torch.manual_seed(seed + 3)
    adapter = MotionAdapter(**MOTION_ADAPTER_CONFIG)
    pipe = AnimateDiffPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=byte_level_clip_tokenizer(),
        unet=unet,
        motion_adapter=adapter,
        scheduler=DDIMScheduler(**SCHEDULER_CONFIG),
        feature_extractor=None,
        image_encoder=None,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_modelscope(seed: int = 0) -> TextToVideoSDPipeline:
    """TextToVideoSDPipeline (UNet3DConditionModel, ~1.3M params) with seeded random weights."""
    text_encoder, vae = _text_and_vae(seed)
    torch.manual_seed(seed + 2)
    unet = UNet3DConditionModel(**UNET3D_CONFIG)
    pipe = TextToVideoSDPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=byte_level_clip_tokenizer(),
        unet=unet,
        scheduler=DDIMScheduler(**SCHEDULER_CONFIG),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
