"""The registry's diffusion-transformer video models (Wan 2.1/2.2, CogVideoX, LTX-Video, Mochi,
HunyuanVideo 1.5) and their tiny counterparts: :data:`DIT_MODELS`, part of
:data:`freqlab.models.specs.MODELS`. FreeU does not apply to any of them (``freeu={}``), nor do
the temporal-attention methods; the noise-level methods (FreeInit, FreqPrior, FreeNoise's noise
rescheduling) do.
"""

from __future__ import annotations

import torch

from freqlab.models import tiny, tiny_dit, tiny_hunyuan15
from freqlab.models.spec import ModelSpec
from freqlab.models.weights import Component, HubSource

__all__ = ["DIT_MODELS", "WAN_SCHEDULER"]

_WAN_COMPONENTS = (
    Component("tokenizer", "AutoTokenizer", "tokenizer", "tokenizer"),
    Component("text_encoder", "UMT5EncoderModel", "text_encoder", "transformers"),
    # Wan's docs keep the VAE in float32.
    Component("vae", "AutoencoderKLWan", "vae", dtype="float32"),
    Component("transformer", "WanTransformer3DModel", "transformer"),
)

# Wan 2.1 480P: UniPC with flow sigmas, flow_shift 3.0 (diffusers Wan docs).
WAN_SCHEDULER = dict(
    _class_name="UniPCMultistepScheduler",
    num_train_timesteps=1000,
    prediction_type="flow_prediction",
    use_flow_sigmas=True,
    flow_shift=3.0,
)


DIT_MODELS: dict[str, ModelSpec] = {
    "tiny_wan": ModelSpec(
        name="tiny_wan",
        family="wan",
        build=tiny.tiny_wan,
        defaults=dict(
            num_frames=5, height=32, width=32, num_inference_steps=10, guidance_scale=5.0
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="WanPipeline (flow-matching DiT, causal video VAE, UMT5) with seeded random "
        "weights, offline: the Wan layout at a few thousand parameters.",
        scheduler=dict(_class_name="FlowMatchEulerDiscreteScheduler", shift=3.0),
        size_multiple=16,  # as Wan: VAE factor 8 x patch 2
        temporal_factor=4,  # as Wan: num_frames 4k + 1
    ),
    "wan21_t2v_1_3b": ModelSpec(
        name="wan21_t2v_1_3b",
        family="wan",
        defaults=dict(
            num_frames=81, height=480, width=832, num_inference_steps=50, guidance_scale=5.0
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="Wan 2.1 T2V 1.3B (flow-matching DiT, video VAE), 832x480, 81 frames.",
        scheduler=dict(WAN_SCHEDULER),
        pipeline="WanPipeline",
        sources={
            "pipeline": HubSource(
                "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", _WAN_COMPONENTS, note="Wan 2.1 T2V 1.3B"
            )
        },
        accelerator_dtype=torch.bfloat16,
        size_multiple=16,  # WanPipeline.check_inputs: VAE factor 8 x patch 2
        temporal_factor=4,  # WanPipeline rounds num_frames to 4k + 1 (AutoencoderKLWan packs 4)
        references=(
            "diffusers Wan docs / WanPipeline defaults (480x832, 81 frames, 50 steps, CFG 5)",
        ),
    ),
    "tiny_wan22": ModelSpec(
        name="tiny_wan22",
        family="wan",
        build=tiny.tiny_wan22,
        # guidance_scale drives the high-noise expert, guidance_scale_2 the low-noise one
        # (WanPipeline.__call__), as Wan 2.2 A14B's (4.0, 3.0).
        defaults=dict(
            num_frames=5,
            height=32,
            width=32,
            num_inference_steps=10,
            guidance_scale=4.0,
            guidance_scale_2=3.0,
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="WanPipeline with two DiT experts (high noise above boundary_ratio 0.875, "
        "low noise below), Wan 2.1's causal video VAE and UMT5, seeded random weights, offline: "
        "the Wan 2.2 A14B layout at a few thousand parameters a expert.",
        scheduler=dict(_class_name="FlowMatchEulerDiscreteScheduler", shift=tiny.WAN22_SHIFT),
        size_multiple=16,  # as Wan 2.2 A14B: VAE factor 8 x patch 2
        temporal_factor=4,  # num_frames 4k + 1
    ),
    "wan22_ti2v_5b": ModelSpec(
        name="wan22_ti2v_5b",
        family="wan",
        defaults=dict(
            num_frames=121, height=704, width=1280, num_inference_steps=50, guidance_scale=5.0
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="Wan 2.2 TI2V 5B, text to video (dense DiT on the Wan 2.2 VAE: 48 latent "
        "channels, 16x spatial, 4x temporal compression), 1280x704, 121 frames at 24 fps.",
        # UniPC with flow sigmas as Wan 2.1's, at Wan 2.2 ti2v-5B's sample_shift 5.0.
        scheduler=dict(WAN_SCHEDULER, flow_shift=5.0),
        pipeline="WanPipeline",
        sources={
            "pipeline": HubSource(
                "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
                (
                    Component("tokenizer", "AutoTokenizer", "tokenizer", "tokenizer"),
                    Component("text_encoder", "UMT5EncoderModel", "text_encoder", "transformers"),
                    # The Wan 2.2 VAE is diffusers' AutoencoderKLWan with its residual config
                    # (is_residual, z_dim 48, patch_size 2, scale_factor_spatial 16); float32 as
                    # Wan's docs keep the VAE.
                    Component("vae", "AutoencoderKLWan", "vae", dtype="float32"),
                    Component("transformer", "WanTransformer3DModel", "transformer"),
                ),
                note="Wan 2.2 TI2V 5B",
            )
        },
        # The 5B's per-token timesteps (the repository's model_index.json: expand_timesteps
        # true); one transformer, no boundary.
        pipeline_kwargs=dict(expand_timesteps=True),
        accelerator_dtype=torch.bfloat16,
        size_multiple=32,  # WanPipeline.check_inputs: VAE factor 16 x patch 2
        temporal_factor=4,  # Wan 2.2 VAE stride (4, 16, 16): num_frames 4k + 1
        references=(
            "Wan-Video/Wan2.2 wan/configs/wan_ti2v_5B.py (frame_num 121, sample_fps 24, "
            "sample_steps 50, sample_guide_scale 5.0, sample_shift 5.0, vae_stride (4, 16, 16)) "
            "and README (--task ti2v-5B --size 1280*704)",
            "diffusers 0.42 WanPipeline (expand_timesteps for Wan 2.2 TI2V) and AutoencoderKLWan "
            "(is_residual, patch_size, scale_factor_spatial)",
        ),
    ),
    "wan22_t2v_a14b": ModelSpec(
        name="wan22_t2v_a14b",
        family="wan",
        # WanPipeline.__call__: guidance_scale for `transformer` (high noise), guidance_scale_2
        # for `transformer_2` (low noise); Wan 2.2's sample_guide_scale (3.0, 4.0) is (low, high).
        defaults=dict(
            num_frames=81,
            height=720,
            width=1280,
            num_inference_steps=40,
            guidance_scale=4.0,
            guidance_scale_2=3.0,
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="Wan 2.2 T2V A14B (two 14B DiT experts: high noise for t >= 875, low noise "
        "below; Wan 2.1's VAE), 1280x720 (480x832 also supported), 81 frames at 16 fps.",
        scheduler=dict(WAN_SCHEDULER, flow_shift=12.0),  # Wan 2.2 t2v-A14B's sample_shift
        pipeline="WanPipeline",
        sources={
            "pipeline": HubSource(
                "Wan-AI/Wan2.2-T2V-A14B-Diffusers",
                (
                    *_WAN_COMPONENTS,
                    Component("transformer_2", "WanTransformer3DModel", "transformer_2"),
                ),
                note="Wan 2.2 T2V A14B (two experts)",
            )
        },
        pipeline_kwargs=dict(boundary_ratio=0.875),
        accelerator_dtype=torch.bfloat16,
        size_multiple=16,  # WanPipeline.check_inputs: VAE factor 8 x patch 2
        temporal_factor=4,  # Wan 2.1's VAE: num_frames 4k + 1
        references=(
            "Wan-Video/Wan2.2 wan/configs/wan_t2v_A14B.py (sample_steps 40, boundary 0.875, "
            "sample_guide_scale (3.0, 4.0) low/high noise, sample_shift 12.0; frame_num 81, "
            "16 fps) and README (--task t2v-A14B --size 1280*720)",
            "diffusers 0.42 WanPipeline (transformer_2, boundary_ratio, guidance_scale_2)",
        ),
    ),
    "tiny_cogvideox": ModelSpec(
        name="tiny_cogvideox",
        family="cogvideox",
        build=tiny.tiny_cogvideox,
        defaults=dict(
            num_frames=9, height=32, width=32, num_inference_steps=10, guidance_scale=6.0
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="CogVideoXPipeline (DiT over (B, F, C, h, w) latents, causal 3D VAE, T5, "
        "zero-SNR v-prediction DDIM) with seeded random weights, offline: the CogVideoX-2b "
        "layout at a few hundred thousand parameters.",
        scheduler=dict(_class_name="CogVideoXDDIMScheduler", **tiny.COGVIDEOX_SCHEDULER_CONFIG),
        size_multiple=8,  # the tiny VAE's factor 4 x patch 2
        temporal_factor=4,  # as CogVideoX: num_frames 4k + 1
    ),
    "cogvideox_2b": ModelSpec(
        name="cogvideox_2b",
        family="cogvideox",
        defaults=dict(
            num_frames=49, height=480, width=720, num_inference_steps=50, guidance_scale=6.0
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="CogVideoX-2b (expert-transformer DiT, causal 3D VAE, T5-XXL; zero-SNR "
        "v-prediction DDIM), 720x480, 49 frames.",
        # scripts/convert_cogvideox_to_diffusers.py (diffusers), the config of the hub's
        # scheduler/: the same values as tiny.COGVIDEOX_SCHEDULER_CONFIG.
        scheduler=dict(_class_name="CogVideoXDDIMScheduler", **tiny.COGVIDEOX_SCHEDULER_CONFIG),
        pipeline="CogVideoXPipeline",
        sources={
            "pipeline": HubSource(
                "THUDM/CogVideoX-2b",
                (
                    # T5Tokenizer (sentencepiece) or its fast conversion, whichever is installed.
                    Component("tokenizer", "AutoTokenizer", "tokenizer", "tokenizer"),
                    Component("text_encoder", "T5EncoderModel", "text_encoder", "transformers"),
                    Component("vae", "AutoencoderKLCogVideoX", "vae"),
                    Component("transformer", "CogVideoXTransformer3DModel", "transformer"),
                ),
                note="CogVideoX-2b",
            )
        },
        accelerator_dtype=torch.float16,  # the model card: fp16 for 2b (bf16 for 5b)
        # CogVideoXPipeline.check_inputs asks for multiples of 8; the transformer's 2x2 patches
        # of the /8 latents need 16 (e.g. 488 px gives 61 latent rows, which the patches drop).
        size_multiple=16,
        temporal_factor=4,  # 4k + 1 frames (the VAE keeps frame 0 and packs 4 per latent)
        references=(
            "THUDM/CogVideoX-2b model card (720x480, 49 frames, 50 steps, guidance 6, fp16)",
            "diffusers CogVideoXPipeline (latents (B, F, C, h, w); vae_scaling_factor_image "
            "1.15258426) and scripts/convert_cogvideox_to_diffusers.py (scheduler config)",
        ),
    ),
    "cogvideox_5b": ModelSpec(
        name="cogvideox_5b",
        family="cogvideox",
        defaults=dict(
            num_frames=49, height=480, width=720, num_inference_steps=50, guidance_scale=6.0
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="CogVideoX-5b (expert-transformer DiT with 3D rotary embeddings, causal 3D "
        "VAE, T5-XXL; zero-SNR v-prediction DDIM without SNR shift), 720x480, 49 frames.",
        # CogVideoX-2b's scheduler with snr_shift_scale 1.0 (2b: 3.0): the 5b hub's
        # scheduler/scheduler_config.json as diffusers' conversion script writes it for 5b
        # (--snr_shift_scale 1.0), quoted the same by third-party loaders.
        scheduler=dict(
            _class_name="CogVideoXDDIMScheduler",
            **dict(tiny.COGVIDEOX_SCHEDULER_CONFIG, snr_shift_scale=1.0),
        ),
        pipeline="CogVideoXPipeline",
        sources={
            "pipeline": HubSource(
                "THUDM/CogVideoX-5b",
                (
                    Component("tokenizer", "AutoTokenizer", "tokenizer", "tokenizer"),
                    Component("text_encoder", "T5EncoderModel", "text_encoder", "transformers"),
                    Component("vae", "AutoencoderKLCogVideoX", "vae"),
                    Component("transformer", "CogVideoXTransformer3DModel", "transformer"),
                ),
                note="CogVideoX-5b",
            )
        },
        accelerator_dtype=torch.bfloat16,  # the model card: bf16 for 5b
        size_multiple=16,  # as CogVideoX-2b: VAE factor 8 x the transformer's 2x2 patches
        temporal_factor=4,  # 4k + 1 frames
        references=(
            "THUDM/CogVideoX-5b model card (720x480, 49 frames, 50 steps, guidance 6, bf16)",
            "diffusers scripts/convert_cogvideox_to_diffusers.py (--snr_shift_scale 1.0 for 5b)",
        ),
    ),
    "tiny_ltx": ModelSpec(
        name="tiny_ltx",
        family="ltx",
        build=tiny_dit.tiny_ltx,
        defaults=dict(
            num_frames=17,
            height=32,
            width=32,
            num_inference_steps=10,
            guidance_scale=3.0,
            max_sequence_length=32,
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="LTXPipeline (token-packed latents, causal video VAE with time /8, T5, "
        "dynamically shifted flow-matching Euler) with seeded random weights, offline: the "
        "LTX-Video layout at ~120k parameters.",
        scheduler=dict(
            _class_name="FlowMatchEulerDiscreteScheduler", **tiny_dit.LTX_SCHEDULER_CONFIG
        ),
        size_multiple=8,  # the tiny VAE's spatial factor 8 (patch 1)
        temporal_factor=8,  # as LTX-Video: num_frames 8k + 1
    ),
    "ltx_video": ModelSpec(
        name="ltx_video",
        family="ltx",
        defaults=dict(
            num_frames=161, height=480, width=704, num_inference_steps=50, guidance_scale=3.0
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="LTX-Video 2B (DiT over token-packed latents, VAE 32x spatial and 8x "
        "temporal compression, 128 latent channels, T5-XXL), 704x480, 161 frames.",
        # scripts/convert_ltx_to_diffusers.py (diffusers) for 0.9.0/0.9.1: dynamic shifting from
        # the token count, base/max shift 0.95/2.05 at 1024/4096 tokens, terminal sigma 0.1.
        scheduler=dict(
            _class_name="FlowMatchEulerDiscreteScheduler", **tiny_dit.LTX_SCHEDULER_CONFIG
        ),
        pipeline="LTXPipeline",
        sources={
            "pipeline": HubSource(
                "Lightricks/LTX-Video",
                (
                    Component("tokenizer", "AutoTokenizer", "tokenizer", "tokenizer"),
                    Component("text_encoder", "T5EncoderModel", "text_encoder", "transformers"),
                    Component("vae", "AutoencoderKLLTXVideo", "vae"),
                    Component("transformer", "LTXVideoTransformer3DModel", "transformer"),
                ),
                note="LTX-Video (diffusers format)",
            )
        },
        accelerator_dtype=torch.bfloat16,  # the pipeline's documented example
        size_multiple=32,  # LTXPipeline.check_inputs: the VAE's spatial factor 32 (patch 1)
        temporal_factor=8,  # the VAE's temporal factor: num_frames 8k + 1
        references=(
            "diffusers LTXPipeline example (Lightricks/LTX-Video, bf16, 704x480, 161 frames, "
            "50 steps) and __call__ defaults (guidance_scale 3, frame_rate 25, decode_timestep 0)",
            "diffusers scripts/convert_ltx_to_diffusers.py (scheduler config)",
        ),
    ),
    "tiny_mochi": ModelSpec(
        name="tiny_mochi",
        family="mochi",
        build=tiny_dit.tiny_mochi,
        defaults=dict(
            num_frames=13,
            height=32,
            width=32,
            num_inference_steps=10,
            guidance_scale=4.5,
            max_sequence_length=16,
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="MochiPipeline (asymmetric DiT, causal video VAE with time /6, T5, inverted "
        "flow-matching Euler) with seeded random weights, offline: the Mochi layout at ~640k "
        "parameters.",
        scheduler=dict(
            _class_name="FlowMatchEulerDiscreteScheduler", **tiny_dit.MOCHI_SCHEDULER_CONFIG
        ),
        size_multiple=16,  # as Mochi: VAE factor 8 x patch 2
        temporal_factor=6,  # as Mochi: num_frames 6k + 1
    ),
    "mochi": ModelSpec(
        name="mochi",
        family="mochi",
        defaults=dict(
            num_frames=85, height=480, width=848, num_inference_steps=64, guidance_scale=4.5
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="Mochi 1 preview 10B (asymmetric DiT, VAE 8x spatial and 6x temporal "
        "compression, 12 latent channels, T5-XXL), 848x480, 85 frames at 30 fps.",
        scheduler=dict(
            _class_name="FlowMatchEulerDiscreteScheduler", **tiny_dit.MOCHI_SCHEDULER_CONFIG
        ),
        pipeline="MochiPipeline",
        sources={
            "pipeline": HubSource(
                "genmo/mochi-1-preview",
                (
                    Component("tokenizer", "AutoTokenizer", "tokenizer", "tokenizer"),
                    Component("text_encoder", "T5EncoderModel", "text_encoder", "transformers"),
                    Component("vae", "AutoencoderKLMochi", "vae"),
                    Component("transformer", "MochiTransformer3DModel", "transformer"),
                ),
                note="Mochi 1 preview (diffusers format; model.variant=bf16 for the bf16 files)",
            )
        },
        accelerator_dtype=torch.bfloat16,  # the docs' bf16 variant (22 GB VRAM)
        size_multiple=16,  # the VAE's factor 8 x the transformer's patch 2
        temporal_factor=6,  # the VAE's temporal factor: num_frames 6k + 1
        references=(
            "diffusers docs api/pipelines/mochi.md (genmo/mochi-1-preview, variant bf16, "
            "num_frames 85, VAE tiling, fps 30) and MochiPipeline defaults (480x848, 64 steps, "
            "guidance 4.5, linear-quadratic sigmas)",
        ),
    ),
    "tiny_hunyuanvideo15": ModelSpec(
        name="tiny_hunyuanvideo15",
        family="hunyuanvideo15",
        build=tiny_hunyuan15.tiny_hunyuanvideo15,
        # guidance_scale reaches the pipeline's guider (the call takes none): the samplers set it
        # for each pass (freqlab.sampling.guider_guidance).
        defaults=dict(
            num_frames=9,
            height=32,
            width=32,
            num_inference_steps=10,
            guidance_scale=tiny_hunyuan15.HUNYUAN15_GUIDANCE_SCALE,
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="HunyuanVideo15Pipeline (dual-stream DiT, causal video VAE with time /4, "
        "Qwen2.5-VL and ByT5 text encoders, flow matching, a CFG guider) with seeded random "
        "weights, offline: the HunyuanVideo 1.5 480p t2v layout at ~4.7M parameters.",
        scheduler=dict(
            _class_name="FlowMatchEulerDiscreteScheduler", shift=tiny_hunyuan15.HUNYUAN15_SHIFT
        ),
        size_multiple=4,  # the tiny VAE's spatial factor 4 (patch 1)
        temporal_factor=4,  # as HunyuanVideo 1.5: num_frames 4k + 1
    ),
    "hunyuanvideo15": ModelSpec(
        name="hunyuanvideo15",
        family="hunyuanvideo15",
        defaults=dict(
            num_frames=121,
            height=480,
            width=848,
            num_inference_steps=50,
            guidance_scale=tiny_hunyuan15.HUNYUAN15_GUIDANCE_SCALE,
        ),
        freeu={},  # a transformer: FreeU does not apply
        decode_chunk=16,
        description="HunyuanVideo 1.5 8.3B, 480p text to video (dual-stream DiT, VAE 16x spatial "
        "and 4x temporal compression, 32 latent channels, Qwen2.5-VL-7B and ByT5), 848x480, "
        "121 frames.",
        # The 480p t2v shift 5 (720p t2v: 9); the pipeline passes sigmas linspace(1, 0, S + 1)[:-1].
        scheduler=dict(
            _class_name="FlowMatchEulerDiscreteScheduler", shift=tiny_hunyuan15.HUNYUAN15_SHIFT
        ),
        pipeline="HunyuanVideo15Pipeline",
        sources={
            "pipeline": HubSource(
                "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v",
                (
                    Component("tokenizer", "AutoTokenizer", "tokenizer", "tokenizer"),
                    Component(
                        "text_encoder", "Qwen2_5_VLTextModel", "text_encoder", "transformers"
                    ),
                    # ByT5's tokenizer is byte-level: a config, no vocabulary file.
                    Component("tokenizer_2", "ByT5Tokenizer", "tokenizer_2", "config"),
                    Component("text_encoder_2", "T5EncoderModel", "text_encoder_2", "transformers"),
                    Component("vae", "AutoencoderKLHunyuanVideo15", "vae"),
                    Component("transformer", "HunyuanVideo15Transformer3DModel", "transformer"),
                    # ClassifierFreeGuidance's config (guidance_scale 6 for 480p t2v).
                    Component("guider", "ClassifierFreeGuidance", "guider", "config"),
                ),
                note="HunyuanVideo 1.5 480p t2v (diffusers format)",
            )
        },
        accelerator_dtype=torch.bfloat16,  # the official README and diffusers docs
        # The VAE's spatial factor 16 x patch 1. The pipeline floors other sizes silently
        # (checked on the tiny model), so the registry refuses them.
        size_multiple=16,
        temporal_factor=4,  # the VAE's temporal factor: num_frames 4k + 1
        references=(
            "diffusers docs api/pipelines/hunyuan_video15.md and api/models (hub ids "
            "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v; UNCONFIRMED offline: the "
            "pipeline's example omits '-Diffusers')",
            "diffusers scripts/convert_hunyuan_video1_5_to_diffusers.py (480p t2v: shift 5, "
            "guider guidance_scale 6) and Tencent-Hunyuan/HunyuanVideo-1.5 (121 frames, 50 "
            "steps, bf16)",
            "HunyuanVideo15Pipeline defaults: 480p bucket 848x480 for target_size 640",
        ),
    ),
}
