"""Tiny text-to-video pipelines with seeded random weights, built fully offline.

They share the architecture of the real models (AnimateDiff's UNetMotionModel via a MotionAdapter,
ModelScope's UNet3DConditionModel, VideoCrafter2's fps-conditioned UNet3D, AnimateDiff-SDXL, Wan
2.1's DiT, CogVideoX's DiT), so FreeInit and FreeU run through the same diffusers code paths, in about a second per
call on CPU: the real block types with one layer per block and 16-64 channels (a 10-step call
at 32 px takes under a second and under 0.5 GB).
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import (
    AnimateDiffPipeline,
    AutoencoderKL,
    AutoencoderKLCogVideoX,
    AutoencoderKLWan,
    CogVideoXDDIMScheduler,
    CogVideoXPipeline,
    CogVideoXTransformer3DModel,
    DDIMScheduler,
    FlowMatchEulerDiscreteScheduler,
    MotionAdapter,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    TextToVideoSDPipeline,
    UNet2DConditionModel,
    UNet3DConditionModel,
    WanPipeline,
    WanTransformer3DModel,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    T5Config,
    T5EncoderModel,
    UMT5Config,
    UMT5EncoderModel,
)

from freqlab.models.tokenizer import byte_level_clip_tokenizer
from freqlab.models.videocrafter2 import (
    UNet3DVideoCrafterConditionModel,
    VideoCrafterDDIMScheduler,
    VideoCrafterPipeline,
)

# Frames the motion modules' positional encoding covers (more fail in the UNet).
MOTION_MAX_FRAMES = 32

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
    motion_max_seq_length=MOTION_MAX_FRAMES,
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


# --------------------------------------------------------------------------- more architectures
# Tiny stand-ins for the real models' other architectures (test fixtures: saved with
# save_pretrained, they exercise the same loading code as real weights).

# VideoCrafter2: UNet3D + frame-rate embedding.
VIDEOCRAFTER2_UNET_CONFIG = dict(UNET3D_CONFIG, fps_cond=True)
# AnimateDiff v1 motion modules: no mid block.
MOTION_ADAPTER_V1_CONFIG = dict(MOTION_ADAPTER_CONFIG, use_motion_mid_block=False)
# SDXL: two text encoders (hidden 32 + 32 = cross_attention_dim 64), "text_time" added
# conditioning (6 time ids x 8 + pooled 32 = 80).
TEXT_CONFIG_2 = dict(TEXT_CONFIG, projection_dim=32)
SDXL_UNET_CONFIG = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=64,
    attention_head_dim=(2, 4),
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=8,
    transformer_layers_per_block=1,
    projection_class_embeddings_input_dim=80,
    norm_num_groups=8,
)
SDXL_MOTION_ADAPTER_CONFIG = dict(MOTION_ADAPTER_CONFIG, use_motion_mid_block=False)
# Wan 2.1: DiT with a causal video VAE (spatial /8, temporal /4) and a UMT5 text encoder.
WAN_TRANSFORMER_CONFIG = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=2,
    attention_head_dim=12,
    in_channels=16,
    out_channels=16,
    text_dim=32,
    freq_dim=32,
    ffn_dim=32,
    num_layers=2,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    rope_max_seq_len=32,
)
WAN_VAE_CONFIG = dict(
    base_dim=3,
    z_dim=16,
    dim_mult=[1, 1, 1, 1],
    num_res_blocks=1,
    temperal_downsample=[False, True, True],
)
UMT5_CONFIG = dict(
    vocab_size=514,
    d_model=32,
    d_kv=8,
    d_ff=37,
    num_layers=1,
    num_heads=4,
    relative_attention_num_buckets=8,
    pad_token_id=513,
    eos_token_id=513,
    decoder_start_token_id=513,
)


def tiny_stable_diffusion(seed: int = 0) -> StableDiffusionPipeline:
    """A Stable Diffusion 1.5-layout pipeline (the AnimateDiff base) with seeded random weights."""
    text_encoder, vae = _text_and_vae(seed)
    torch.manual_seed(seed + 2)
    unet = UNet2DConditionModel(**UNET2D_CONFIG)
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=byte_level_clip_tokenizer(),
        unet=unet,
        scheduler=DDIMScheduler(**SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def tiny_motion_adapter(seed: int = 0, mid_block: bool = True) -> MotionAdapter:
    """A MotionAdapter for :func:`tiny_stable_diffusion` (AnimateDiff v2 with a mid block, v1
    without)."""
    torch.manual_seed(seed + 3)
    return MotionAdapter(**(MOTION_ADAPTER_CONFIG if mid_block else MOTION_ADAPTER_V1_CONFIG))


def tiny_videocrafter2_unet(seed: int = 0) -> UNet3DVideoCrafterConditionModel:
    """VideoCrafter2's fps-conditioned UNet3D (~1.3M params) with seeded random weights."""
    torch.manual_seed(seed + 2)
    return UNet3DVideoCrafterConditionModel(**VIDEOCRAFTER2_UNET_CONFIG)


def tiny_videocrafter2(seed: int = 0) -> VideoCrafterPipeline:
    """VideoCrafterPipeline (fps-conditioned UNet3D, data-scaled DDIM) with seeded random weights."""
    text_encoder, vae = _text_and_vae(seed)
    pipe = VideoCrafterPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=byte_level_clip_tokenizer(),
        unet=tiny_videocrafter2_unet(seed),
        scheduler=VideoCrafterDDIMScheduler(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_stable_diffusion_xl(seed: int = 0) -> StableDiffusionXLPipeline:
    """A Stable Diffusion XL-layout pipeline (two text encoders, text_time conditioning)."""
    text_encoder, vae = _text_and_vae(seed)
    torch.manual_seed(seed + 4)
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**TEXT_CONFIG_2))
    torch.manual_seed(seed + 2)
    unet = UNet2DConditionModel(**SDXL_UNET_CONFIG)
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=byte_level_clip_tokenizer(),
        tokenizer_2=byte_level_clip_tokenizer(),
        unet=unet,
        scheduler=DDIMScheduler(**SCHEDULER_CONFIG),
    )


def tiny_sdxl_motion_adapter(seed: int = 0) -> MotionAdapter:
    """A MotionAdapter for :func:`tiny_stable_diffusion_xl` (no mid block, as SDXL beta)."""
    torch.manual_seed(seed + 3)
    return MotionAdapter(**SDXL_MOTION_ADAPTER_CONFIG)


def tiny_wan(seed: int = 0) -> WanPipeline:
    """A Wan 2.1-layout WanPipeline (DiT, causal video VAE, UMT5) with seeded random weights."""
    return _tiny_wan_pipeline(seed, shift=3.0)


def _tiny_wan_pipeline(seed: int, shift: float, two_experts: bool = False) -> WanPipeline:
    """The tiny Wan pipelines: UMT5, the causal video VAE and one DiT (Wan 2.1), or two experts
    switched at :data:`WAN22_BOUNDARY_RATIO` (Wan 2.2 A14B), each component from its own seed."""
    torch.manual_seed(seed)
    # Inference mode: a transformers model is built in training mode, and UMT5's dropout (0.1)
    # would make two calls with the same generators differ.
    text_encoder = UMT5EncoderModel(UMT5Config(**UMT5_CONFIG)).eval()
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLWan(**WAN_VAE_CONFIG)
    torch.manual_seed(seed + 2)
    transformer = WanTransformer3DModel(**WAN_TRANSFORMER_CONFIG)
    experts: dict[str, Any] = {}
    if two_experts:
        # A seed of its own: two experts with equal weights would hide a wrong switch.
        torch.manual_seed(seed + 3)
        experts = dict(
            transformer_2=WanTransformer3DModel(**WAN_TRANSFORMER_CONFIG),
            boundary_ratio=WAN22_BOUNDARY_RATIO,
        )
    pipe = WanPipeline(
        tokenizer=byte_level_clip_tokenizer(),
        text_encoder=text_encoder,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=shift),
        transformer=transformer,
        **experts,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


# CogVideoX (2b layout): an expert-transformer DiT over (B, F, C, H, W) latents, a causal 3D VAE
# (temporal /4; three blocks here, so spatial /4 instead of the real /8) and a T5 encoder.
COGVIDEOX_TRANSFORMER_CONFIG = dict(
    num_attention_heads=2,
    attention_head_dim=8,
    in_channels=16,
    out_channels=16,
    time_embed_dim=16,
    text_embed_dim=32,
    num_layers=1,
    # The positional embeddings are rebuilt for any other size; these are the tiny defaults.
    sample_width=8,
    sample_height=8,
    sample_frames=5,
    patch_size=2,
    temporal_compression_ratio=4,
    max_text_seq_length=226,  # the pipeline's default max_sequence_length
)
COGVIDEOX_VAE_CONFIG = dict(
    down_block_types=("CogVideoXDownBlock3D",) * 3,
    up_block_types=("CogVideoXUpBlock3D",) * 3,
    block_out_channels=(8, 16, 16),
    latent_channels=16,
    layers_per_block=1,
    norm_num_groups=4,
    temporal_compression_ratio=4,
    sample_height=32,
    sample_width=32,
)
T5_CONFIG = dict(
    vocab_size=514,
    d_model=32,
    d_kv=8,
    d_ff=37,
    num_layers=1,
    num_heads=4,
    relative_attention_num_buckets=8,
    pad_token_id=513,
    eos_token_id=513,
    decoder_start_token_id=513,
)
# CogVideoX-2b's scheduler/scheduler_config.json (THUDM/CogVideoX-2b on the hub): DDIM on a
# scaled-linear schedule rescaled to zero terminal SNR, SNR-shifted by 3, v-prediction, trailing
# timesteps. The same values are CogVideoXDDIMScheduler's own defaults except prediction_type,
# clip_sample, timestep_spacing and rescale_betas_zero_snr (diffusers 0.42).
COGVIDEOX_SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=True,
    steps_offset=0,
    prediction_type="v_prediction",
    rescale_betas_zero_snr=True,
    snr_shift_scale=3.0,
    timestep_spacing="trailing",
)


def tiny_cogvideox(seed: int = 0) -> CogVideoXPipeline:
    """A CogVideoX-2b-layout CogVideoXPipeline (DiT over ``(B, F, C, H, W)`` latents, causal 3D
    VAE with temporal /4 and spatial /4, T5 encoder, CogVideoX-2b's zero-SNR v-prediction DDIM)
    with seeded random weights."""
    torch.manual_seed(seed)
    # Inference mode: T5's dropout (0.1) would make two calls with the same generators differ.
    text_encoder = T5EncoderModel(T5Config(**T5_CONFIG)).eval()
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLCogVideoX(**COGVIDEOX_VAE_CONFIG)
    torch.manual_seed(seed + 2)
    transformer = CogVideoXTransformer3DModel(**COGVIDEOX_TRANSFORMER_CONFIG)
    pipe = CogVideoXPipeline(
        # The pipeline pads/truncates prompts to 226 tokens (max_sequence_length).
        tokenizer=byte_level_clip_tokenizer(model_max_length=226),
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=CogVideoXDDIMScheduler(**COGVIDEOX_SCHEDULER_CONFIG),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


# Wan 2.2 T2V A14B layout: two DiT experts of one architecture, ``transformer`` for the high-noise
# steps (t >= boundary_ratio * 1000) and ``transformer_2`` for the rest, on Wan 2.1's VAE
# (spatial /8, temporal /4). 0.875 and the shift 12 are Wan 2.2's t2v-A14B settings
# (Wan-Video/Wan2.2 wan/configs/wan_t2v_A14B.py: boundary, sample_shift).
WAN22_BOUNDARY_RATIO = 0.875
WAN22_SHIFT = 12.0


def tiny_wan22(seed: int = 0) -> WanPipeline:
    """A Wan 2.2 A14B-layout WanPipeline: two tiny DiT experts switched at ``boundary_ratio``
    0.875 (of 1000 training timesteps), Wan 2.1's causal video VAE and UMT5, seeded random weights.

    With 10 Euler steps at shift 12 (timesteps 1000, 990, ..., 907, 861, 783, 624, 126) the
    high-noise expert takes the first 6 steps and the low-noise expert the last 4: both run in
    every pass."""
    return _tiny_wan_pipeline(seed, shift=WAN22_SHIFT, two_experts=True)
