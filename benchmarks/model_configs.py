"""Full-size architecture configurations of the registry's real models, and their tiny stand-ins.

Speed and memory do not depend on weight values, so :mod:`benchmarks.models` builds each registry
model's architecture with random weights from the configurations below (nothing is downloaded).
They are the published ``config.json`` facts of the hub repositories each registry entry reads
(:mod:`freqlab.models.specs`), written out here and checked against the published parameter
counts on the ``meta`` device (tests/benchmarks/test_model_configs.py).

Adding a model: one :class:`BenchModel` in :data:`BENCH_MODELS`, keyed by its registry name:
``components`` (pipeline argument -> ``(class name, config)``; classes are looked up in freqlab,
diffusers, then transformers), the denoiser's role (and ``experts``: further denoisers, as Wan 2.2
A14B's low-noise ``transformer_2``), and ``tiny`` (a function building the tiny counterpart
pipeline with seeded random weights, for CPU runs and tests). The pipeline class, scheduler,
pipeline arguments (``boundary_ratio``, ``expand_timesteps``), default sizes and dtypes come from
the registry entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from freqlab.models import tiny, tiny_dit, tiny_hunyuan15
from freqlab.models.pretrained import _class as component_class

# transformers models take a config object; their config classes by model class.
_TRANSFORMERS_CONFIGS = {
    "CLIPTextModel": "CLIPTextConfig",
    "CLIPTextModelWithProjection": "CLIPTextConfig",
    "UMT5EncoderModel": "UMT5Config",
    "T5EncoderModel": "T5Config",
    "Qwen2_5_VLTextModel": "Qwen2_5_VLTextConfig",
}


def build_component(class_name: str, config: dict[str, Any]) -> torch.nn.Module:
    """A model of ``class_name`` (freqlab, diffusers, then transformers) with random weights,
    built on the current default device (``with torch.device("meta"):`` builds no storage)."""
    cls = component_class(class_name)
    if class_name in _TRANSFORMERS_CONFIGS:
        import transformers

        return cls(getattr(transformers, _TRANSFORMERS_CONFIGS[class_name])(**config))
    return cls(**config)


def count_parameters(module: torch.nn.Module) -> int:
    """Number of parameters (tied weights once), meta tensors included."""
    return sum(p.numel() for p in module.parameters())


__all__ = ["BENCH_MODELS", "BenchModel", "TINY_BUILDERS", "build_component", "count_parameters"]

# --------------------------------------------------------------------------- text encoders
# OpenAI CLIP ViT-L/14 text tower: stable-diffusion-v1-5/stable-diffusion-v1-5
# text_encoder/config.json (also SDXL's first encoder).
CLIP_L = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    projection_dim=768,
)
# OpenCLIP ViT-H/14 text tower cut at the penultimate layer (23 of 24 layers):
# ali-vilab/text-to-video-ms-1.7b text_encoder/config.json (VideoCrafter2 reads the same).
OPENCLIP_H_PENULTIMATE = dict(
    vocab_size=49408,
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=23,
    num_attention_heads=16,
    max_position_embeddings=77,
    hidden_act="gelu",
    projection_dim=512,
)
# OpenCLIP ViT-bigG/14 text tower with projection: stabilityai/stable-diffusion-xl-base-1.0
# text_encoder_2/config.json.
OPENCLIP_BIGG = dict(
    vocab_size=49408,
    hidden_size=1280,
    intermediate_size=5120,
    num_hidden_layers=32,
    num_attention_heads=20,
    max_position_embeddings=77,
    hidden_act="gelu",
    projection_dim=1280,
)
# UMT5-XXL encoder: Wan-AI/Wan2.1-T2V-1.3B-Diffusers text_encoder/config.json.
UMT5_XXL = dict(
    vocab_size=256384,
    d_model=4096,
    d_kv=64,
    d_ff=10240,
    num_layers=24,
    num_heads=64,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu",
    dense_act_fn="gelu_new",
    is_gated_act=True,
)

# T5 v1.1 XXL encoder (google/t5-v1_1-xxl): THUDM/CogVideoX-2b text_encoder/config.json.
T5_XXL = dict(
    vocab_size=32128,
    d_model=4096,
    d_kv=64,
    d_ff=10240,
    num_layers=24,
    num_heads=64,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu",
    dense_act_fn="gelu_new",
    is_gated_act=True,
)

# Qwen2.5-VL-7B's language model (HunyuanVideo 1.5's text_encoder, Qwen2_5_VLTextModel: the
# conversion script loads Qwen/Qwen2.5-VL-7B-Instruct and keeps its language_model): the text
# part of Qwen/Qwen2.5-VL-7B-Instruct config.json (= Qwen2.5-7B's decoder with vocabulary 152064,
# multimodal RoPE sections 16/24/24 over the 64 rotary pairs of its 128-wide heads). The hub
# file could not be read offline here; these are its values as other code quoting it repeats
# them. transformers' Qwen2_5_VLTextConfig defaults are the 72B model's, so every size is written.
QWEN25_VL_7B_TEXT = dict(
    vocab_size=152064,
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    hidden_act="silu",
    max_position_embeddings=128000,
    rms_norm_eps=1e-6,
    rope_parameters={
        "rope_type": "default",
        "rope_theta": 1_000_000.0,
        "mrope_section": [16, 24, 24],
    },
    tie_word_embeddings=False,
    use_cache=False,  # one forward pass per prompt (the pipeline keeps no cache)
)
# HunyuanVideo 1.5's glyph encoder (text_encoder_2, T5EncoderModel): google/byt5-small's encoder
# (config.json: d_model 1472, d_ff 3584, 12 encoder layers, 6 heads x 64, gated GELU, 32
# relative-position buckets, vocabulary 384) with Glyph-SDXL-v2's weights. diffusers'
# scripts/convert_hunyuan_video1_5_to_diffusers.py (load_byt5) adds Glyph-SDXL-v2's color and
# font tokens and resizes the embedding to the tokenizer's length; the converted
# text_encoder_2/config.json has vocab_size 1510 as a third-party port checking against that file
# reports (not read from the hub here). The vocabulary only sizes the embedding table (1126 added
# rows x 1472 = 1.66M parameters), not the work of a call; ByT5Tokenizer's ids are all < 384.
BYT5_SMALL_GLYPH = dict(
    vocab_size=1510,
    d_model=1472,
    d_kv=64,
    d_ff=3584,
    num_layers=12,
    num_heads=6,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu",
    dense_act_fn="gelu_new",
    is_gated_act=True,
    tie_word_embeddings=False,
)

# --------------------------------------------------------------------------- VAEs
# The SD VAE (8x spatial): stable-diffusion-v1-5 vae/config.json; ModelScope's vae/config.json
# has the same layout; SDXL's vae/config.json too (sample_size 1024, scaling_factor 0.13025).
SD_VAE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=2,
    norm_num_groups=32,
    sample_size=512,
    scaling_factor=0.18215,
)
SDXL_VAE = dict(SD_VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True)
# Wan 2.1 VAE (causal 3D, 8x spatial, 4x temporal): Wan-AI/Wan2.1-T2V-1.3B-Diffusers
# vae/config.json (= diffusers' AutoencoderKLWan defaults).
WAN_VAE = dict(
    base_dim=96,
    z_dim=16,
    dim_mult=[1, 2, 4, 4],
    num_res_blocks=2,
    attn_scales=[],
    temperal_downsample=[False, True, True],
)
# Wan 2.2 VAE (TI2V-5B; causal 3D, 16x spatial = 2x2 pixel patches + 8x, 4x temporal, 48 latent
# channels, residual down/up-sampling, a wider decoder): Wan-AI/Wan2.2-TI2V-5B-Diffusers
# vae/config.json, in diffusers 0.42's AutoencoderKLWan arguments (is_residual, patch_size,
# scale_factor_*, decoder_base_dim; the hub file's clip_output is not one of them). The hub file
# itself could not be read offline here: the values are those of diffusers'
# scripts/convert_wan_to_diffusers.py (vae22_diffusers_config, its conversion of Wan2.2_VAE.pth),
# which other code quoting that config.json repeats. latents_mean/latents_std only scale the
# latents: they change neither the parameter count nor the timing.
# fmt: off
_WAN22_LATENTS_MEAN = [
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
    -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
    -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
    -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
    -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
    0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
]
_WAN22_LATENTS_STD = [
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
    0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
    0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
    0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
    0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
]
# fmt: on
WAN22_VAE = dict(
    base_dim=160,
    decoder_base_dim=256,
    z_dim=48,
    dim_mult=[1, 2, 4, 4],
    num_res_blocks=2,
    attn_scales=[],
    temperal_downsample=[False, True, True],
    is_residual=True,
    in_channels=12,  # 3 RGB channels x a 2x2 pixel patch
    out_channels=12,
    patch_size=2,
    scale_factor_temporal=4,
    scale_factor_spatial=16,
    latents_mean=_WAN22_LATENTS_MEAN,
    latents_std=_WAN22_LATENTS_STD,
)
# CogVideoX-2b's causal 3D VAE (8x spatial, 4x temporal): THUDM/CogVideoX-2b vae/config.json
# (= diffusers' AutoencoderKLCogVideoX defaults).
COGVIDEOX_VAE = dict(
    down_block_types=("CogVideoXDownBlock3D",) * 4,
    up_block_types=("CogVideoXUpBlock3D",) * 4,
    block_out_channels=(128, 256, 256, 512),
    latent_channels=16,
    layers_per_block=3,
    norm_num_groups=32,
    temporal_compression_ratio=4,
    sample_height=480,
    sample_width=720,
    scaling_factor=1.15258426,
)
# CogVideoX-5b's VAE: the same architecture (SAT configs/cogvideox_5b.yaml: ch 128, ch_mult
# 1,2,2,4, 3 res blocks, 16 latent channels, as 2b's), latents scaled by 0.7 instead of
# 1.15258426 (the conversion script's "--scaling_factor ... For 5B, it is 0.7"; SAT's
# scale_factor: 0.7). The factor changes no parameter and no timing.
COGVIDEOX_5B_VAE = dict(COGVIDEOX_VAE, scaling_factor=0.7)
# LTX-Video 0.9.0's VAE (32x spatial = 4x4 pixel patches x 8, 8x temporal, 128 latent channels):
# Lightricks/LTX-Video vae/config.json, whose diffusers-format folders are the 0.9.0 release. The
# hub file could not be read offline here: the values are diffusers' scripts/
# convert_ltx_to_diffusers.py get_vae_config("0.9.0") (= AutoencoderKLLTXVideo's defaults in
# diffusers 0.42).
LTX_090_VAE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=128,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("LTXVideoDownBlock3D",) * 4,
    decoder_block_out_channels=(128, 256, 512, 512),
    layers_per_block=(4, 3, 3, 3, 4),
    decoder_layers_per_block=(4, 3, 3, 3, 4),
    spatio_temporal_scaling=(True, True, True, False),
    decoder_spatio_temporal_scaling=(True, True, True, False),
    decoder_inject_noise=(False,) * 5,
    downsample_type=("conv",) * 4,
    upsample_residual=(False,) * 4,
    upsample_factor=(1,) * 4,
    patch_size=4,
    patch_size_t=1,
    resnet_norm_eps=1e-6,
    scaling_factor=1.0,
    encoder_causal=True,
    decoder_causal=False,
    timestep_conditioning=False,  # 0.9.1 added the timestep-conditioned decoder
)
# Mochi 1 preview's asymmetric VAE (8x spatial, 6x temporal, 12 latent channels; the encoder
# narrower than the decoder): genmo/mochi-1-preview vae/config.json. Not read from the hub here:
# diffusers' scripts/convert_mochi_to_diffusers.py builds AutoencoderKLMochi(latent_channels=12,
# out_channels=3) on its defaults, written out below (latents_mean/std only scale the latents).
MOCHI_VAE = dict(
    in_channels=15,  # RGB + the encoder's 12 Fourier features of it
    out_channels=3,
    encoder_block_out_channels=(64, 128, 256, 384),
    decoder_block_out_channels=(128, 256, 512, 768),
    latent_channels=12,
    layers_per_block=(3, 3, 4, 6, 3),
    temporal_expansions=(1, 2, 3),
    spatial_expansions=(2, 2, 2),
    add_attention_block=(False, True, True, True, True),
)
# HunyuanVideo 1.5's VAE (16x spatial, 4x temporal, 32 latent channels): the 480p t2v
# repository's vae/config.json. Not read from the hub here: diffusers'
# scripts/convert_hunyuan_video1_5_to_diffusers.py builds AutoencoderKLHunyuanVideo15() on its
# defaults, written out below.
HUNYUAN15_VAE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=32,
    block_out_channels=(128, 256, 512, 1024, 1024),
    layers_per_block=2,
    spatial_compression_ratio=16,
    temporal_compression_ratio=4,
    downsample_match_channel=True,
    upsample_match_channel=True,
    scaling_factor=1.03682,
)

# --------------------------------------------------------------------------- denoisers
# Stable Diffusion 1.5 UNet: stable-diffusion-v1-5/stable-diffusion-v1-5 unet/config.json.
SD15_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=768,
    attention_head_dim=8,
    norm_num_groups=32,
)
# AnimateDiff v2 motion module mm_sd_v15_v2: guoyww/animatediff-motion-adapter-v1-5-2
# config.json (with mid block, positional encoding length 32).
ADAPTER_V15_V2 = dict(
    block_out_channels=(320, 640, 1280, 1280),
    motion_layers_per_block=2,
    motion_mid_block_layers_per_block=1,
    motion_num_attention_heads=8,
    motion_norm_num_groups=32,
    motion_max_seq_length=32,
    use_motion_mid_block=True,
)
# AnimateDiff v1 motion module mm_sd_v14: guoyww/animatediff-motion-adapter-v1-4 config.json
# (no mid block, positional encoding length 24).
ADAPTER_V14 = dict(ADAPTER_V15_V2, motion_max_seq_length=24, use_motion_mid_block=False)
# SDXL base UNet: stabilityai/stable-diffusion-xl-base-1.0 unet/config.json.
SDXL_UNET = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    block_out_channels=(320, 640, 1280),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10),
    attention_head_dim=(5, 10, 20),
    cross_attention_dim=2048,
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
    norm_num_groups=32,
)
# AnimateDiff SDXL beta motion module: guoyww/animatediff-motion-adapter-sdxl-beta config.json.
ADAPTER_SDXL_BETA = dict(
    block_out_channels=(320, 640, 1280),
    motion_layers_per_block=2,
    motion_num_attention_heads=8,
    motion_norm_num_groups=32,
    motion_max_seq_length=32,
    use_motion_mid_block=False,
)
# ModelScope T2V UNet3D: ali-vilab/text-to-video-ms-1.7b unet/config.json; ZeroScope v2 576w
# (cerspense/zeroscope_v2_576w unet/config.json) is a finetune with the same layout.
MODELSCOPE_UNET = dict(
    sample_size=32,
    in_channels=4,
    out_channels=4,
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock3D",) * 3 + ("DownBlock3D",),
    up_block_types=("UpBlock3D",) + ("CrossAttnUpBlock3D",) * 3,
    cross_attention_dim=1024,
    attention_head_dim=64,
    norm_num_groups=32,
)
# VideoCrafter2: ModelScope's layout plus the frame-rate embedding, adamdad/videocrafterv2_diffusers
# config.json (fps_cond true; sample_size null there, 64 = 512 / 8 as the registry fills it).
VIDEOCRAFTER2_UNET = dict(MODELSCOPE_UNET, sample_size=64, fps_cond=True)
# Wan 2.1 T2V 1.3B DiT: Wan-AI/Wan2.1-T2V-1.3B-Diffusers transformer/config.json.
WAN21_1_3B_TRANSFORMER = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=12,
    attention_head_dim=128,
    in_channels=16,
    out_channels=16,
    text_dim=4096,
    freq_dim=256,
    ffn_dim=8960,
    num_layers=30,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=1024,
)
# Wan 2.2 TI2V-5B DiT: Wan-AI/Wan2.2-TI2V-5B-Diffusers transformer/config.json (dim 3072 = 24 heads
# x 128, 30 layers, FFN 14336, 48 latent channels in and out; the rest as Wan 2.1).
WAN22_TI2V_5B_TRANSFORMER = dict(
    WAN21_1_3B_TRANSFORMER,
    num_attention_heads=24,
    in_channels=48,
    out_channels=48,
    ffn_dim=14336,
    num_layers=30,
)
# Wan 2.2 T2V A14B, each of its two experts (transformer/ and transformer_2/ config.json of
# Wan-AI/Wan2.2-T2V-A14B-Diffusers, identical): dim 5120 = 40 heads x 128, 40 layers, FFN 13824,
# 16 latent channels (the Wan 2.1 VAE's) = Wan 2.1 T2V-14B's layout.
WAN22_A14B_TRANSFORMER = dict(
    WAN21_1_3B_TRANSFORMER,
    num_attention_heads=40,
    ffn_dim=13824,
    num_layers=40,
)
# CogVideoX-2b DiT: THUDM/CogVideoX-2b transformer/config.json (sincos positions, no RoPE;
# = diffusers' CogVideoXTransformer3DModel defaults).
COGVIDEOX_2B_TRANSFORMER = dict(
    num_attention_heads=30,
    attention_head_dim=64,
    in_channels=16,
    out_channels=16,
    time_embed_dim=512,
    text_embed_dim=4096,
    num_layers=30,
    sample_width=90,
    sample_height=60,
    sample_frames=49,
    patch_size=2,
    temporal_compression_ratio=4,
    max_text_seq_length=226,
    spatial_interpolation_scale=1.875,
    use_rotary_positional_embeddings=False,
)
# CogVideoX-5b DiT: 48 heads x 64 = 3072 wide, 42 layers, 3D rotary position embeddings instead
# of 2b's sincos table; everything else as 2b. Sources: diffusers'
# scripts/convert_cogvideox_to_diffusers.py (its --num_layers "For 5B, it is 42",
# --num_attention_heads "For 5B, it is 48", --use_rotary_positional_embeddings "For 5B, it is
# True"; get_transformer_init_kwargs("1.0") gives 2b and 5b the same patch 2, 60x90 latent
# sample, 49 frames, patch bias; the rest are CogVideoXTransformer3DModel's defaults, 2b's) and
# THUDM/CogVideo sat/configs/cogvideox_5b.yaml (hidden_size 3072, num_layers 42, 48 heads,
# time_embed_dim 512, text 4096 x 226, Rotary3DPositionEmbeddingMixin, head 64). The hub's
# transformer/config.json itself could not be read offline here. spatial_interpolation_scale is
# kept at 2b's 1.875: with RoPE the sincos table it scales is not built. On the meta device this
# is 5,570,283,072 parameters, the count finetrainers' docs/models/cogvideox.md reports for a full
# fine-tune of THUDM/CogVideoX-5b ("trainable parameters": 5570283072). That is 11% above the
# "5B" of the name, beyond rounding (5.57B), as 2b's 1.69B is 15% below its "2B": the names are
# size classes, not rounded counts; the configuration is not changed to meet them.
COGVIDEOX_5B_TRANSFORMER = dict(
    COGVIDEOX_2B_TRANSFORMER,
    num_attention_heads=48,
    num_layers=42,
    use_rotary_positional_embeddings=True,
)
# LTX-Video 2B (0.9.0) DiT: Lightricks/LTX-Video transformer/config.json. Not read from the hub
# here: diffusers' scripts/convert_ltx_to_diffusers.py get_transformer_config (every version but
# 0.9.7: 32 heads x 64 = 2048, 28 layers, patch 1 over the VAE's 128 channels, T5-XXL captions
# of 4096), = LTXVideoTransformer3DModel's defaults in diffusers 0.42.
LTX_2B_TRANSFORMER = dict(
    in_channels=128,
    out_channels=128,
    patch_size=1,
    patch_size_t=1,
    num_attention_heads=32,
    attention_head_dim=64,
    cross_attention_dim=2048,
    num_layers=28,
    activation_fn="gelu-approximate",
    qk_norm="rms_norm_across_heads",
    norm_elementwise_affine=False,
    norm_eps=1e-6,
    caption_channels=4096,
    attention_bias=True,
    attention_out_bias=True,
)
# Mochi 1 preview asymmetric DiT: genmo/mochi-1-preview transformer/config.json. Not read from
# the hub here: diffusers' scripts/convert_mochi_to_diffusers.py builds MochiTransformer3DModel()
# on its defaults (48 layers, visual stream 24 heads x 128 = 3072, text stream 1536, 2x2 patches
# over 12 latent channels, T5-XXL 4096, 256 text tokens), written out below.
MOCHI_TRANSFORMER = dict(
    patch_size=2,
    num_attention_heads=24,
    attention_head_dim=128,
    num_layers=48,
    pooled_projection_dim=1536,
    in_channels=12,
    out_channels=None,  # = in_channels
    qk_norm="rms_norm",
    text_embed_dim=4096,
    time_embed_dim=256,
    activation_fn="swiglu",
    max_sequence_length=256,
)
# HunyuanVideo 1.5 480p t2v DiT: hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v
# transformer/config.json. Not read from the hub here: diffusers'
# scripts/convert_hunyuan_video1_5_to_diffusers.py builds HunyuanVideo15Transformer3DModel with
# TRANSFORMER_CONFIGS["480p_t2v"] (target_size 640) over its defaults, written out below: 16 heads
# x 128 = 2048, 54 dual-stream layers, 2 token-refiner layers, 65 channels in (32 noisy + 32
# condition latents + a mask) and 32 out, Qwen2.5-VL 3584 / ByT5 1472 / SigLIP 1152 inputs, RoPE
# (16, 56, 56) at theta 256. task_type is "t2v" as the registry's pipeline (that script's 480p_t2v
# entry reads "i2v", which only picks the pipeline class it saves; the model uses it for nothing).
HUNYUAN15_480P_T2V_TRANSFORMER = dict(
    in_channels=65,
    out_channels=32,
    num_attention_heads=16,
    attention_head_dim=128,
    num_layers=54,
    num_refiner_layers=2,
    mlp_ratio=4.0,
    patch_size=1,
    patch_size_t=1,
    qk_norm="rms_norm",
    text_embed_dim=3584,
    text_embed_2_dim=1472,
    image_embed_dim=1152,
    rope_theta=256.0,
    rope_axes_dim=(16, 56, 56),
    target_size=640,
    task_type="t2v",
    use_meanflow=False,
)


# --------------------------------------------------------------------------- tiny counterparts


def _tiny_animatediff_v1(seed: int = 0) -> Any:
    """AnimateDiffPipeline with a v1-style motion adapter (no mid block), tiny sizes."""
    from diffusers import AnimateDiffPipeline

    base = tiny.tiny_stable_diffusion(seed)
    pipe = AnimateDiffPipeline(
        vae=base.vae,
        text_encoder=base.text_encoder,
        tokenizer=base.tokenizer,
        unet=base.unet,
        motion_adapter=tiny.tiny_motion_adapter(seed, mid_block=False),
        scheduler=base.scheduler,
        feature_extractor=None,
        image_encoder=None,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _tiny_animatediff_sdxl(seed: int = 0) -> Any:
    """AnimateDiffSDXLPipeline from the tiny SDXL layout and its motion adapter."""
    from diffusers import AnimateDiffSDXLPipeline

    base = tiny.tiny_stable_diffusion_xl(seed)
    pipe = AnimateDiffSDXLPipeline(
        vae=base.vae,
        text_encoder=base.text_encoder,
        text_encoder_2=base.text_encoder_2,
        tokenizer=base.tokenizer,
        tokenizer_2=base.tokenizer_2,
        unet=base.unet,
        motion_adapter=tiny.tiny_sdxl_motion_adapter(seed),
        scheduler=base.scheduler,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


# Wan 2.2 TI2V-5B's tiny counterpart (the registry's tiny Wan models have Wan 2.1's VAE): the Wan 2.2
# VAE layout (48 latent channels, residual sampling, 2x2 pixel patches, 16x spatial) at a few
# channels, a DiT with 48 channels in and out, per-token timesteps (expand_timesteps).
TINY_WAN22_VAE = dict(
    WAN22_VAE,
    base_dim=4,
    decoder_base_dim=8,  # wider than the encoder, as the real one
    dim_mult=[1, 1, 1, 1],
    num_res_blocks=1,
)
TINY_WAN22_TI2V_TRANSFORMER = dict(tiny.WAN_TRANSFORMER_CONFIG, in_channels=48, out_channels=48)
# Wan 2.2 ti2v-5B's sample_shift (the registry's scheduler replaces this one in the benchmark).
_WAN22_TI2V_SHIFT = 5.0


def tiny_wan22_ti2v(seed: int = 0) -> Any:
    """A Wan 2.2 TI2V-5B-layout WanPipeline (``expand_timesteps``; Wan 2.2 VAE with ``z_dim`` 48,
    spatial /16, temporal /4; one DiT over ``(B, 48, F', H/16, W/16)`` latents; UMT5), seeded random
    weights, as :func:`freqlab.models.tiny.tiny_wan` seeds its components. Height and width are
    multiples of 32 (VAE 16 x patch 2)."""
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    from freqlab.models.tokenizer import byte_level_clip_tokenizer

    torch.manual_seed(seed)
    # Inference mode: UMT5's dropout would make two calls with the same generators differ.
    text_encoder = UMT5EncoderModel(UMT5Config(**tiny.UMT5_CONFIG)).eval()
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLWan(**TINY_WAN22_VAE)
    torch.manual_seed(seed + 2)
    transformer = WanTransformer3DModel(**TINY_WAN22_TI2V_TRANSFORMER)
    pipe = WanPipeline(
        tokenizer=byte_level_clip_tokenizer(),
        text_encoder=text_encoder,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=_WAN22_TI2V_SHIFT),
        transformer=transformer,
        expand_timesteps=True,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


TINY_BUILDERS: dict[str, Callable[..., Any]] = {
    "animatediff": tiny.tiny_animatediff,
    "animatediff_v1": _tiny_animatediff_v1,
    "modelscope": tiny.tiny_modelscope,
    "zeroscope": tiny.tiny_modelscope,
    "videocrafter2": tiny.tiny_videocrafter2,
    "animatediff_sdxl": _tiny_animatediff_sdxl,
    "wan21_t2v_1_3b": tiny.tiny_wan,
    "cogvideox_2b": tiny.tiny_cogvideox,
    # The same tiny pipeline (2b's sincos positions: its 8-wide heads cannot split into RoPE's
    # three even axes); the benchmark swaps in the 5b scheduler (no SNR shift) from the registry.
    "cogvideox_5b": tiny.tiny_cogvideox,
    "wan22_ti2v_5b": tiny_wan22_ti2v,
    "wan22_t2v_a14b": tiny.tiny_wan22,
    "ltx_video": tiny_dit.tiny_ltx,
    "mochi": tiny_dit.tiny_mochi,
    "hunyuanvideo15": tiny_hunyuan15.tiny_hunyuanvideo15,
}


def _byt5_tokenizer() -> Any:
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


def _hunyuan15_guider() -> Any:
    from diffusers import ClassifierFreeGuidance

    return ClassifierFreeGuidance(guidance_scale=tiny_hunyuan15.HUNYUAN15_GUIDANCE_SCALE)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class BenchModel:
    """One registry model's full-size components and its tiny counterpart.

    ``components``: pipeline argument -> ``(class name, config)`` (tokenizers are not listed: the
    benchmark uses a byte-level CLIP tokenizer, whose ids are valid in every vocabulary here).
    ``denoiser``: the component the sampler calls every step (a motion adapter joins the UNet
    inside the pipeline); ``experts``: further denoisers the pipeline switches to (Wan 2.2 A14B's
    low-noise ``transformer_2``); :attr:`denoisers` lists them all. ``tiny``: ``tiny(seed=...)`` -> the tiny pipeline (same pipeline class).
    ``sources``: where the configurations come from. ``tiny_size``: (frames, height, width) of
    the tiny runs (a video VAE's 4k + 1 frames). ``tokenizer_length``: the byte-level
    tokenizer's ``model_max_length`` (the pipeline's text length where it pads to it).
    ``parts``: pipeline arguments that are not models, each built by a function of no arguments
    (HunyuanVideo 1.5's Qwen2 tokenizer with its chat template, ByT5 tokenizer and guider); a
    tokenizer listed here replaces the byte-level CLIP one. ``tiny_call``: call arguments of the
    tiny runs only (the registry's tiny defaults: LTX's and Mochi's shorter text). ``min_steps``:
    the fewest sampling steps the pipeline's schedule is defined at (``--steps`` below it is
    refused).
    """

    name: str
    components: dict[str, tuple[str, dict[str, Any]]]
    denoiser: str
    tiny: Callable[..., Any]
    sources: tuple[str, ...] = field(default_factory=tuple)
    tiny_size: tuple[int, int, int] = (8, 32, 32)
    tokenizer_length: int = 77
    experts: tuple[str, ...] = ()
    parts: dict[str, Callable[[], Any]] = field(default_factory=dict)
    tiny_call: dict[str, Any] = field(default_factory=dict)
    min_steps: int = 1

    @property
    def denoisers(self) -> tuple[str, ...]:
        """Roles of every denoiser the pipeline calls (as :func:`freqlab.sampling.denoisers`)."""
        return (self.denoiser, *self.experts)


def _sd15(adapter: dict[str, Any], adapter_repo: str) -> dict[str, Any]:
    return dict(
        components=dict(
            vae=("AutoencoderKL", SD_VAE),
            text_encoder=("CLIPTextModel", CLIP_L),
            unet=("UNet2DConditionModel", SD15_UNET),
            motion_adapter=("MotionAdapter", adapter),
        ),
        denoiser="unet",
        sources=("stable-diffusion-v1-5/stable-diffusion-v1-5 */config.json", adapter_repo),
    )


def _t2v(unet_class: str, unet: dict[str, Any], repo: str) -> dict[str, Any]:
    return dict(
        components=dict(
            vae=("AutoencoderKL", SD_VAE),
            text_encoder=("CLIPTextModel", OPENCLIP_H_PENULTIMATE),
            unet=(unet_class, unet),
        ),
        denoiser="unet",
        sources=(f"{repo} unet/config.json", "ali-vilab/text-to-video-ms-1.7b */config.json"),
    )


BENCH_MODELS: dict[str, BenchModel] = {
    "animatediff": BenchModel(
        "animatediff",
        tiny=TINY_BUILDERS["animatediff"],
        **_sd15(ADAPTER_V15_V2, "guoyww/animatediff-motion-adapter-v1-5-2 config.json"),
    ),
    "animatediff_v1": BenchModel(
        "animatediff_v1",
        tiny=TINY_BUILDERS["animatediff_v1"],
        **_sd15(ADAPTER_V14, "guoyww/animatediff-motion-adapter-v1-4 config.json"),
    ),
    "modelscope": BenchModel(
        "modelscope",
        tiny=TINY_BUILDERS["modelscope"],
        **_t2v("UNet3DConditionModel", MODELSCOPE_UNET, "ali-vilab/text-to-video-ms-1.7b"),
    ),
    "zeroscope": BenchModel(
        "zeroscope",
        tiny=TINY_BUILDERS["zeroscope"],
        **_t2v("UNet3DConditionModel", MODELSCOPE_UNET, "cerspense/zeroscope_v2_576w"),
    ),
    "videocrafter2": BenchModel(
        "videocrafter2",
        tiny=TINY_BUILDERS["videocrafter2"],
        **_t2v(
            "UNet3DVideoCrafterConditionModel",
            VIDEOCRAFTER2_UNET,
            "adamdad/videocrafterv2_diffusers",
        ),
    ),
    "animatediff_sdxl": BenchModel(
        "animatediff_sdxl",
        components=dict(
            vae=("AutoencoderKL", SDXL_VAE),
            text_encoder=("CLIPTextModel", CLIP_L),
            text_encoder_2=("CLIPTextModelWithProjection", OPENCLIP_BIGG),
            unet=("UNet2DConditionModel", SDXL_UNET),
            motion_adapter=("MotionAdapter", ADAPTER_SDXL_BETA),
        ),
        denoiser="unet",
        tiny=TINY_BUILDERS["animatediff_sdxl"],
        sources=(
            "stabilityai/stable-diffusion-xl-base-1.0 */config.json",
            "guoyww/animatediff-motion-adapter-sdxl-beta config.json",
        ),
    ),
    "wan21_t2v_1_3b": BenchModel(
        "wan21_t2v_1_3b",
        components=dict(
            text_encoder=("UMT5EncoderModel", UMT5_XXL),
            vae=("AutoencoderKLWan", WAN_VAE),
            transformer=("WanTransformer3DModel", WAN21_1_3B_TRANSFORMER),
        ),
        denoiser="transformer",
        tiny=TINY_BUILDERS["wan21_t2v_1_3b"],
        sources=("Wan-AI/Wan2.1-T2V-1.3B-Diffusers */config.json",),
        tiny_size=(5, 32, 32),
    ),
    "cogvideox_2b": BenchModel(
        "cogvideox_2b",
        components=dict(
            text_encoder=("T5EncoderModel", T5_XXL),
            vae=("AutoencoderKLCogVideoX", COGVIDEOX_VAE),
            transformer=("CogVideoXTransformer3DModel", COGVIDEOX_2B_TRANSFORMER),
        ),
        denoiser="transformer",
        tiny=TINY_BUILDERS["cogvideox_2b"],
        sources=("THUDM/CogVideoX-2b */config.json",),
        tiny_size=(9, 32, 32),  # the tiny_cogvideox registry defaults (its VAE's factor is 4)
        tokenizer_length=226,  # CogVideoXPipeline's max_sequence_length
    ),
    "cogvideox_5b": BenchModel(
        "cogvideox_5b",
        components=dict(
            text_encoder=("T5EncoderModel", T5_XXL),  # as 2b's
            vae=("AutoencoderKLCogVideoX", COGVIDEOX_5B_VAE),
            transformer=("CogVideoXTransformer3DModel", COGVIDEOX_5B_TRANSFORMER),
        ),
        denoiser="transformer",
        tiny=TINY_BUILDERS["cogvideox_5b"],
        sources=(
            "diffusers scripts/convert_cogvideox_to_diffusers.py (5b: 42 layers, 48 heads, RoPE, "
            "VAE scaling 0.7)",
            "THUDM/CogVideo sat/configs/cogvideox_5b.yaml",
            "THUDM/CogVideoX-2b */config.json (the values 5b shares)",
        ),
        tiny_size=(9, 32, 32),  # as cogvideox_2b: the tiny_cogvideox registry defaults
        tokenizer_length=226,  # CogVideoXPipeline's max_sequence_length
    ),
    "wan22_ti2v_5b": BenchModel(
        "wan22_ti2v_5b",
        components=dict(
            text_encoder=("UMT5EncoderModel", UMT5_XXL),  # Wan 2.1's
            vae=("AutoencoderKLWan", WAN22_VAE),
            transformer=("WanTransformer3DModel", WAN22_TI2V_5B_TRANSFORMER),
        ),
        denoiser="transformer",
        tiny=TINY_BUILDERS["wan22_ti2v_5b"],
        sources=(
            "Wan-AI/Wan2.2-TI2V-5B-Diffusers */config.json",
            "diffusers scripts/convert_wan_to_diffusers.py (Wan 2.2 VAE latents_mean/std)",
        ),
        tiny_size=(5, 64, 64),  # multiples of 32; 2 latent frames of 4x4 (2x2 tokens)
    ),
    "wan22_t2v_a14b": BenchModel(
        "wan22_t2v_a14b",
        components=dict(
            text_encoder=("UMT5EncoderModel", UMT5_XXL),
            vae=("AutoencoderKLWan", WAN_VAE),  # Wan 2.1's
            transformer=("WanTransformer3DModel", WAN22_A14B_TRANSFORMER),  # high noise
            transformer_2=("WanTransformer3DModel", WAN22_A14B_TRANSFORMER),  # low noise
        ),
        denoiser="transformer",
        experts=("transformer_2",),
        tiny=TINY_BUILDERS["wan22_t2v_a14b"],
        sources=("Wan-AI/Wan2.2-T2V-A14B-Diffusers */config.json",),
        tiny_size=(5, 32, 32),
    ),
    "ltx_video": BenchModel(
        "ltx_video",
        components=dict(
            text_encoder=("T5EncoderModel", T5_XXL),  # google/t5-v1_1-xxl (conversion script)
            vae=("AutoencoderKLLTXVideo", LTX_090_VAE),
            transformer=("LTXVideoTransformer3DModel", LTX_2B_TRANSFORMER),
        ),
        denoiser="transformer",
        tiny=TINY_BUILDERS["ltx_video"],
        sources=(
            "Lightricks/LTX-Video */config.json (0.9.0)",
            "diffusers scripts/convert_ltx_to_diffusers.py (transformer and 0.9.0 VAE configs)",
        ),
        tiny_size=(9, 32, 32),  # 8k + 1 frames; the tiny VAE's /8: 2 latent frames of 4x4
        tokenizer_length=128,  # LTXPipeline's max_sequence_length
        tiny_call=dict(max_sequence_length=32),  # the tiny_ltx registry default
        # The schedule's stretch to the terminal sigma 0.1 (shift_terminal) divides by 1 - the
        # last sigma, which is 0 at one step: the sigmas are NaN.
        min_steps=2,
    ),
    "mochi": BenchModel(
        "mochi",
        components=dict(
            text_encoder=("T5EncoderModel", T5_XXL),  # google/t5-v1_1-xxl (conversion script)
            vae=("AutoencoderKLMochi", MOCHI_VAE),
            transformer=("MochiTransformer3DModel", MOCHI_TRANSFORMER),
        ),
        denoiser="transformer",
        tiny=TINY_BUILDERS["mochi"],
        sources=(
            "genmo/mochi-1-preview */config.json",
            "diffusers scripts/convert_mochi_to_diffusers.py (transformer and VAE on defaults)",
        ),
        tiny_size=(7, 32, 32),  # 6k + 1 frames; 2 latent frames of 4x4 (2x2 tokens)
        tokenizer_length=256,  # MochiPipeline's max_sequence_length
        # The tiny_mochi registry default (its tokenizer's model_max_length 16).
        tiny_call=dict(max_sequence_length=16),
        # MochiPipeline's linear-quadratic sigmas divide by num_steps // 2 linear steps: 0 at one.
        min_steps=2,
    ),
    "hunyuanvideo15": BenchModel(
        "hunyuanvideo15",
        components=dict(
            text_encoder=("Qwen2_5_VLTextModel", QWEN25_VL_7B_TEXT),
            text_encoder_2=("T5EncoderModel", BYT5_SMALL_GLYPH),
            vae=("AutoencoderKLHunyuanVideo15", HUNYUAN15_VAE),
            transformer=("HunyuanVideo15Transformer3DModel", HUNYUAN15_480P_T2V_TRANSFORMER),
        ),
        denoiser="transformer",
        tiny=TINY_BUILDERS["hunyuanvideo15"],
        sources=(
            "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v */config.json",
            "diffusers scripts/convert_hunyuan_video1_5_to_diffusers.py (480p_t2v transformer, "
            "VAE defaults, Qwen/Qwen2.5-VL-7B-Instruct text model, google/byt5-small + glyph "
            "tokens, guider 6)",
            "Qwen/Qwen2.5-VL-7B-Instruct config.json; google/byt5-small config.json",
        ),
        tiny_size=(5, 32, 32),  # 4k + 1 frames; the tiny VAE's /4: 2 latent frames of 8x8
        # Byte-level stand-ins, as the tiny pipeline's: a Qwen2 tokenizer whose chat template keeps
        # the pipeline's 108-token crop (ids < 259, valid in Qwen's 152064), ByT5's own tokenizer
        # (no files), and the 480p t2v guider (guidance 6; the pipeline's call takes none).
        parts=dict(
            tokenizer=tiny_hunyuan15.byte_level_qwen2_tokenizer,
            tokenizer_2=_byt5_tokenizer,
            guider=_hunyuan15_guider,
        ),
    ),
}
