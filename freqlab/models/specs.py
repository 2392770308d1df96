"""The model table: every registered model's name, how it is built, and its documented defaults.

:data:`MODELS` maps a name to a :class:`ModelSpec` (:mod:`freqlab.models.spec`): the UNet models
are listed here, the diffusion transformers in :mod:`freqlab.models.dit_specs`; :func:`freqlab.models.load_model` (in
:mod:`freqlab.models.registry`) builds what an entry describes. Every entry carries the defaults
its sources document (frames, resolution, steps, guidance, scheduler), the FreeU factors
recommended for its backbone, and the VAE decode chunk; the source of each value is in the entry's
``references``.

Adding a model (a DiT, say):

1. its components (``Component(role, class name, subfolder, library)``) and its scheduler config
   (``_class_name`` plus the arguments its model card or pipeline documents), next to the others
   below; classes are looked up in freqlab, diffusers, then transformers
   (:func:`freqlab.models.pretrained.build_scheduler`);
2. one ``ModelSpec`` in :data:`MODELS` (a DiT: in :data:`freqlab.models.dit_specs.DIT_MODELS`):
   ``sources`` (role -> ``HubSource``; the first role is the
   one ``load_model(path=...)`` sets), ``pipeline`` (the diffusers class), ``defaults``, ``freeu``
   (``{}`` for a transformer: FreeU does not apply), the size rules (``size_multiple``,
   ``temporal_factor``, ``max_frames``), ``accelerator_dtype`` and ``references``; a model built
   in code instead has ``build(seed=...)`` (:mod:`freqlab.models.tiny`, ``tiny_dit``,
   ``tiny_hunyuan15``);
3. ``conf/model/<name>.yaml`` (tests/conf/test_config.py checks that every entry has one) and a line
   in :mod:`freqlab.models`' docstring.
"""

from __future__ import annotations

from typing import Any

from freqlab.models import tiny
from freqlab.models.dit_specs import DIT_MODELS
from freqlab.models.spec import ModelSpec
from freqlab.models.weights import Component, HubSource

__all__ = ["MODELS", "ModelSpec", "get_model_spec"]


# --------------------------------------------------------------------------- components

_VAE = Component("vae", "AutoencoderKL", "vae")
_CLIP = Component("text_encoder", "CLIPTextModel", "text_encoder", "transformers")
_CLIP_TOKENIZER = Component("tokenizer", "CLIPTokenizer", "tokenizer", "tokenizer")
_SD_COMPONENTS = (_VAE, _CLIP, _CLIP_TOKENIZER, Component("unet", "UNet2DConditionModel", "unet"))
_ADAPTER = (Component("motion_adapter", "MotionAdapter", None),)
_T2V_COMPONENTS = (_VAE, _CLIP, _CLIP_TOKENIZER, Component("unet", "UNet3DConditionModel", "unet"))
_SDXL_COMPONENTS = (
    # SDXL's VAE overflows in fp16 (its config sets force_upcast); it stays in float32.
    Component("vae", "AutoencoderKL", "vae", dtype="float32"),
    _CLIP,
    Component("text_encoder_2", "CLIPTextModelWithProjection", "text_encoder_2", "transformers"),
    _CLIP_TOKENIZER,
    Component("tokenizer_2", "CLIPTokenizer", "tokenizer_2", "tokenizer"),
    Component("unet", "UNet2DConditionModel", "unet"),
)
SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
MODELSCOPE = "ali-vilab/text-to-video-ms-1.7b"

# --------------------------------------------------------------------------- schedulers

# AnimateDiff: DDIM, linear betas, clip_sample False, linspace spacing, steps_offset 1
# (diffusers AnimateDiff docs; AnimateDiff inference-v1.yaml for the betas).
ANIMATEDIFF_SCHEDULER = dict(_class_name="DDIMScheduler", **tiny.SCHEDULER_CONFIG)
# ModelScope / ZeroScope: the repositories' scheduler/scheduler_config.json (DDIM, scaled-linear
# betas, no timestep_spacing entry -> diffusers' "leading").
T2V_SCHEDULER = dict(
    _class_name="DDIMScheduler",
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    timestep_spacing="leading",
    prediction_type="epsilon",
)
# VideoCrafter2: LDM "linear" betas (= diffusers scaled_linear), uniform DDIM timesteps + 1, data
# scale 1 -> 0.7 (configs/inference_t2v_512_v2.0.yaml; lvdm/models/samplers/ddim.py).
VIDEOCRAFTER2_SCHEDULER = dict(
    _class_name="VideoCrafterDDIMScheduler",
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    timestep_spacing="leading",
    scale_start=1.0,
    scale_end=0.7,
    scale_mid_step=400,
)
TINY_SCHEDULER = dict(_class_name="DDIMScheduler", **tiny.SCHEDULER_CONFIG)
# The shipped testbed (v3) predicts the velocity on AnimateDiff's schedule; its testbed.json says
# so too (train_config.prediction_type, which loads it; a test checks the two agree).
TESTBED_SCHEDULER = dict(TINY_SCHEDULER, prediction_type="v_prediction")

# --------------------------------------------------------------------------- FreeU factors


def _freeu(b1: float, b2: float, s1: float, s2: float) -> dict[str, Any]:
    # The v1 operator at diffusers' stages: what `pipe.enable_freeu(...)` does with these factors.
    return dict(b1=b1, b2=b2, s1=s1, s2=s2, variant="v1", stages="diffusers")


FREEU_SD15 = _freeu(1.5, 1.6, 0.9, 0.2)  # FreeU README SD1.5 row; diffusers image_quality.md
FREEU_VIDEO = _freeu(1.2, 1.4, 0.9, 0.2)  # diffusers docs for ModelScope/ZeroScope (lyn-rgb)
FREEU_SDXL = _freeu(1.3, 1.4, 0.9, 0.2)  # FreeU README SDXL row; diffusers image_quality.md

# --------------------------------------------------------------------------- ByTheWay settings


def _bytheway(tau: int, alpha: float, beta: float) -> dict[str, Any]:
    # The first 20% of the steps, negative weights kept (ByTheWay's README, after BroadWay v1).
    return dict(tau=tau, alpha=alpha, beta=beta, fraction=0.2, clamp=False)


# Bujiazi/ByTheWay README "ByTheWay Parameters" (16-frame models; tau = 7 is every temporal
# frequency but DC at 16 frames, so other frame counts take tau = F/2 - 1 to keep that band).
BYTHEWAY_ANIMATEDIFF = _bytheway(7, 0.6, 1.5)
BYTHEWAY_VIDEOCRAFTER2 = _bytheway(7, 0.1, 10.0)
# ModelScope: no published settings. Its UNet3D is the layout VideoCrafter2 builds on (the same
# diffusers class, temporal attention without positional embedding in up_blocks.1-3, 64-channel
# heads), and ByTheWay acts only on those maps, so it takes VideoCrafter2's settings, the
# authors' choice for that family. Unverified on ModelScope.
BYTHEWAY_MODELSCOPE = dict(BYTHEWAY_VIDEOCRAFTER2)
# Tiny models and the testbed sample 8 frames: tau = 3 is all but DC there.
BYTHEWAY_TINY = _bytheway(3, 0.6, 1.5)

# --------------------------------------------------------------------------- the table
# One entry a model (see the module docstring, "Adding a model").

_TINY_DEFAULTS = dict(num_frames=8, height=32, width=32, num_inference_steps=10, guidance_scale=7.5)
# Tiny models have random weights, so any factors exercise the code; these are diffusers'
# documented video factors (ModelScope/ZeroScope), v1 backbone, diffusers stages.
_TINY_FREEU = dict(FREEU_VIDEO)

_DIFFUSERS_DOCS = "diffusers docs: api/pipelines/animatediff.md, using-diffusers/image_quality.md"


def _animatediff(
    name: str, adapter: str, description: str, note: str, max_frames: int
) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="animatediff",
        defaults=dict(
            num_frames=16, height=512, width=512, num_inference_steps=25, guidance_scale=7.5
        ),
        freeu=dict(FREEU_SD15),
        decode_chunk=16,
        description=description,
        scheduler=dict(ANIMATEDIFF_SCHEDULER),
        pipeline="AnimateDiffPipeline",
        sources={
            "base": HubSource(SD15, _SD_COMPONENTS, note="Stable Diffusion 1.5 or a finetune"),
            "adapter": HubSource(adapter, _ADAPTER, note=note),
        },
        pipeline_kwargs=dict(feature_extractor=None, image_encoder=None),
        max_frames=max_frames,
        bytheway=dict(BYTHEWAY_ANIMATEDIFF),
        references=(
            _DIFFUSERS_DOCS,
            "TianxingWu/FreeInit examples/AnimateDiff (16x512x512, 25 DDIM steps, CFG 7.5)",
        ),
    )


def _testbed_pipeline(seed: int = 0) -> Any:
    from freqlab.testbed.model import testbed_pipeline  # imported on use: loads shipped weights

    return testbed_pipeline(seed=seed)


def _testbed_digest() -> str:
    from freqlab.testbed.model import weights_digest

    return weights_digest()


MODELS: dict[str, ModelSpec] = {
    "tiny_animatediff": ModelSpec(
        name="tiny_animatediff",
        family="animatediff",
        build=tiny.tiny_animatediff,
        defaults=dict(_TINY_DEFAULTS),
        freeu=dict(_TINY_FREEU),
        decode_chunk=16,
        description="AnimateDiffPipeline (UNetMotionModel) with seeded random weights, offline.",
        scheduler=dict(TINY_SCHEDULER),
        max_frames=tiny.MOTION_MAX_FRAMES,
        bytheway=dict(BYTHEWAY_TINY),
    ),
    "tiny_modelscope": ModelSpec(
        name="tiny_modelscope",
        family="modelscope",
        build=tiny.tiny_modelscope,
        defaults=dict(_TINY_DEFAULTS),
        freeu=dict(_TINY_FREEU),
        decode_chunk=16,
        description="TextToVideoSDPipeline (UNet3DConditionModel) with seeded random weights, offline.",
        scheduler=dict(TINY_SCHEDULER),
        # None: its UpBlock3D has no temporal attention, so one decoder block has it and
        # ByTheWay (a guide block and a block to guide) refuses the model.
        bytheway=None,
    ),
    "testbed": ModelSpec(
        name="testbed",
        family="animatediff",
        build=_testbed_pipeline,
        defaults=dict(_TINY_DEFAULTS, num_inference_steps=25, guidance_scale=7.5),
        freeu=dict(FREEU_SD15),
        decode_chunk=16,
        description="AnimateDiff-architecture testbed trained on CPU on synthetic shape videos "
        "(freqlab.testbed); shipped weights, offline.",
        scheduler=dict(TESTBED_SCHEDULER),
        references=("freqlab/testbed/weights/testbed.json (training settings)",),
        weights_digest=_testbed_digest,
        max_frames=tiny.MOTION_MAX_FRAMES,  # the testbed's UNetMotionModel has tiny's config
        bytheway=dict(BYTHEWAY_TINY),
    ),
    "animatediff": _animatediff(
        "animatediff",
        "guoyww/animatediff-motion-adapter-v1-5-2",
        "AnimateDiff v2 motion adapter (mm_sd_v15_v2) on Stable Diffusion 1.5.",
        "AnimateDiff v2 motion module, diffusers docs default",
        # mm_sd_v15_v2: temporal_position_encoding_max_len 32 (AnimateDiff configs/inference v2).
        max_frames=32,
    ),
    # FreeInit's AnimateDiff results use AnimateDiff v1 with mm_sd_v14
    # (examples/AnimateDiff/configs/prompts/freeinit_examples/*_v1.yaml); its diffusers-format
    # conversion is guoyww/animatediff-motion-adapter-v1-4 ("Duplicate from
    # diffusers/animatediff-motion-adapter-v1-4", 1.67 GB, no mid block).
    "animatediff_v1": _animatediff(
        "animatediff_v1",
        "guoyww/animatediff-motion-adapter-v1-4",
        "AnimateDiff v1 motion module mm_sd_v14 (as in the FreeInit paper) on Stable Diffusion 1.5.",
        "AnimateDiff v1 motion module mm_sd_v14, diffusers format",
        # mm_sd_v14: temporal_position_encoding_max_len 24 (AnimateDiff configs/inference v1).
        max_frames=24,
    ),
    "modelscope": ModelSpec(
        name="modelscope",
        family="modelscope",
        defaults=dict(
            num_frames=16, height=256, width=256, num_inference_steps=50, guidance_scale=9.0
        ),
        freeu=dict(FREEU_VIDEO),
        decode_chunk=16,
        description="ModelScope text-to-video 1.7B (UNet3DConditionModel), 256x256.",
        scheduler=dict(T2V_SCHEDULER),
        pipeline="TextToVideoSDPipeline",
        sources={"pipeline": HubSource(MODELSCOPE, _T2V_COMPONENTS, note="ModelScope T2V 1.7B")},
        bytheway=dict(BYTHEWAY_MODELSCOPE),
        references=(
            "ali-vilab/text-to-video-ms-1.7b scheduler_config.json and model card (256x256, 16 frames)",
            "diffusers TextToVideoSDPipeline defaults (50 steps, guidance 9.0)",
            "diffusers FreeU docs (ModelScope: b1 1.2, b2 1.4, s1 0.9, s2 0.2)",
        ),
    ),
    "zeroscope": ModelSpec(
        name="zeroscope",
        family="modelscope",
        defaults=dict(
            num_frames=24, height=320, width=576, num_inference_steps=40, guidance_scale=9.0
        ),
        freeu=dict(FREEU_VIDEO),
        decode_chunk=8,
        description="ZeroScope v2 576w (ModelScope finetune, watermark-free), 576x320, 24 frames.",
        scheduler=dict(T2V_SCHEDULER),
        pipeline="TextToVideoSDPipeline",
        # main holds pickled .bin weights (a safetensors conversion sits in the open PR refs/pr/46).
        sources={
            "pipeline": HubSource(
                "cerspense/zeroscope_v2_576w",
                _T2V_COMPONENTS,
                safetensors=False,
                note="ZeroScope v2",
            )
        },
        # ModelScope's settings, tau = 11: all but DC at its 24 frames (as 7 at 16).
        bytheway=dict(BYTHEWAY_MODELSCOPE, tau=11),
        references=(
            "cerspense/zeroscope_v2_576w model card (576x320, 24 frames, 40 steps)",
            "diffusers FreeU docs / lyn-rgb/FreeU_Diffusers (ZeroScope: 1.2, 1.4, 0.9, 0.2)",
        ),
    ),
    "videocrafter2": ModelSpec(
        name="videocrafter2",
        family="videocrafter",
        defaults=dict(
            num_frames=16,
            height=320,
            width=512,
            num_inference_steps=50,
            guidance_scale=12.0,
            eta=1.0,
            fps=28,
        ),
        # No published factors for VideoCrafter2; its backbone is ModelScope's UNet3D layout.
        freeu=dict(FREEU_VIDEO),
        decode_chunk=8,
        description="VideoCrafter2 (fps-conditioned UNet3D, data-scaled DDIM), 320x512, 16 frames.",
        scheduler=dict(VIDEOCRAFTER2_SCHEDULER),
        pipeline="VideoCrafterPipeline",
        sources={
            "unet": HubSource(
                "adamdad/videocrafterv2_diffusers",
                (Component("unet", "UNet3DVideoCrafterConditionModel", None),),
                note="VideoCrafter2 UNet, diffusers format",
            ),
            # VideoCrafter2 uses SD's VAE and OpenCLIP ViT-H/14 (penultimate layer), as ModelScope.
            "base": HubSource(
                MODELSCOPE, (_VAE, _CLIP, _CLIP_TOKENIZER), note="its VAE and text encoder"
            ),
        },
        # The conversion's config has sample_size null; 512 / 8.
        fill_config={"unet": {"sample_size": 64}},
        bytheway=dict(BYTHEWAY_VIDEOCRAFTER2),
        references=(
            "AILab-CVC/VideoCrafter scripts/run_text2video.sh (320x512, 50 steps, eta 1.0, CFG 12, fps 28)",
            "configs/inference_t2v_512_v2.0.yaml (betas, use_scale, scale_b 0.7, fps_cond)",
            "adamdad/videocrafterv2_diffusers config.json; Yuanshi9815/Video-Infinity src/video_crafter.py",
        ),
    ),
    "animatediff_sdxl": ModelSpec(
        name="animatediff_sdxl",
        family="animatediff",
        defaults=dict(
            num_frames=16, height=1024, width=1024, num_inference_steps=20, guidance_scale=8.0
        ),
        freeu=dict(FREEU_SDXL),
        decode_chunk=4,
        description="AnimateDiff SDXL motion adapter (beta) on Stable Diffusion XL 1.0.",
        scheduler=dict(ANIMATEDIFF_SCHEDULER),
        pipeline="AnimateDiffSDXLPipeline",
        sources={
            "base": HubSource(
                "stabilityai/stable-diffusion-xl-base-1.0", _SDXL_COMPONENTS, note="SDXL 1.0 base"
            ),
            "adapter": HubSource(
                "guoyww/animatediff-motion-adapter-sdxl-beta",
                _ADAPTER,
                note="AnimateDiff SDXL beta",
            ),
        },
        pipeline_kwargs=dict(feature_extractor=None, image_encoder=None),
        max_frames=32,  # mm_sdxl_v10_beta: motion_max_seq_length 32 (diffusers MotionAdapter)
        bytheway=dict(BYTHEWAY_ANIMATEDIFF),  # AnimateDiff's (the README's are for SD 1.5)
        references=(
            "guoyww/animatediff-motion-adapter-sdxl-beta model card (1024x1024, 16 frames, 20 steps, CFG 8)",
            "FreeU README SDXL row (1.3, 1.4, 0.9, 0.2)",
        ),
    ),
    # The diffusion transformers (Wan, CogVideoX, LTX-Video, Mochi, HunyuanVideo 1.5).
    **DIT_MODELS,
}


def get_model_spec(name: str) -> ModelSpec:
    """The table entry for ``name``; a ValueError lists the known names otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name]
