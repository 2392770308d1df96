"""The model table: every registered model's name, how it is built, and its documented defaults.

:data:`MODELS` maps a name to a :class:`ModelSpec`; :func:`freqlab.models.load_model` (in
:mod:`freqlab.models.registry`) builds what an entry describes. Every entry carries the defaults
its sources document (frames, resolution, steps, guidance, scheduler), the FreeU factors
recommended for its backbone, and the VAE decode chunk; the source of each value is in the entry's
``references``.

Adding a model (a DiT, say):

1. its components (``Component(role, class name, subfolder, library)``) and its scheduler config
   (``_class_name`` plus the arguments its model card or pipeline documents), next to the others
   below; classes are looked up in freqlab, diffusers, then transformers
   (:func:`freqlab.models.pretrained.build_scheduler`);
2. one ``ModelSpec`` in :data:`MODELS`: ``sources`` (role -> ``HubSource``; the first role is the
   one ``load_model(path=...)`` sets), ``pipeline`` (the diffusers class), ``defaults``, ``freeu``
   (``{}`` for a transformer: FreeU does not apply), the size rules (``size_multiple``,
   ``temporal_factor``, ``max_frames``), ``accelerator_dtype`` and ``references``; a model built
   in code instead has ``build(seed=...)`` (:mod:`freqlab.models.tiny`);
3. ``conf/model/<name>.yaml`` (tests/conf/test_config.py checks that every entry has one) and a line
   in :mod:`freqlab.models`' docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from freqlab.models import tiny, tiny_dit, tiny_hunyuan15
from freqlab.models.weights import Component, HubSource

__all__ = ["MODELS", "ModelSpec", "get_model_spec"]


@dataclass(frozen=True)
class ModelSpec:
    """A model's name, how to build it, and its documented sampling defaults.

    ``defaults`` are pipeline call arguments (num_frames, height, width, num_inference_steps,
    guidance_scale, and model-specific ones such as VideoCrafter2's ``fps``/``eta``); ``freeu`` the
    recommended FreeU factors (b1, b2, s1, s2, variant, stages; empty when FreeU does not apply);
    ``decode_chunk`` the number of frames the VAE decodes at once; ``scheduler`` the scheduler's
    diffusers config (``_class_name`` plus arguments); ``bytheway`` the recommended
    :class:`freqlab.bytheway.ByTheWay` arguments (``None`` where ByTheWay does not apply).

    Size rules, checked before a model loads (:meth:`check_sizes`): ``height`` and ``width`` must be
    multiples of ``size_multiple`` (the pipeline's own check: diffusers' UNet video pipelines ask
    for multiples of 8 whatever the VAE's factor, Wan for 16: VAE factor 8 x patch 2); ``num_frames - 1`` a multiple of ``temporal_factor`` (a video VAE's
    temporal compression: Wan's keeps frame 0 and packs 4 frames per latent); at most
    ``max_frames`` frames (an AnimateDiff motion module's positional encoding length; it holds for
    the registered adapter, not for one given with ``adapter=``).

    Tiny models have ``build(seed=...)``. Real models have ``sources``: role -> the hub repository
    that provides some components (the first role is the one ``load_model(path=...)`` sets), and
    ``pipeline``: the pipeline class they are assembled into.
    """

    name: str
    family: str
    build: Callable[..., Any] | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    freeu: dict[str, Any] = field(default_factory=dict)
    decode_chunk: int = 16
    description: str = ""
    scheduler: dict[str, Any] = field(default_factory=dict)
    pipeline: str = ""
    sources: dict[str, HubSource] = field(default_factory=dict)
    pipeline_kwargs: dict[str, Any] = field(default_factory=dict)
    fill_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    accelerator_dtype: torch.dtype = torch.float16
    references: tuple[str, ...] = ()
    weights_digest: Callable[[], str] | None = None  # built-in weights' fingerprint (cache keys)
    size_multiple: int = 8
    temporal_factor: int = 1
    max_frames: int | None = None
    bytheway: dict[str, Any] | None = None

    def check_sizes(self, num_frames: int, height: int, width: int) -> list[tuple[str, str]]:
        """The size rules ``(num_frames, height, width)`` break: ``(argument, what is required)``
        pairs, empty when the sizes suit the model."""
        problems = []
        for key, value in (("height", height), ("width", width)):
            if value % self.size_multiple:
                below = value // self.size_multiple * self.size_multiple
                near = f"{below} or {below + self.size_multiple}" if below else self.size_multiple
                problems.append(
                    (key, f"a multiple of {self.size_multiple} for {self.name} (e.g. {near})")
                )
        if (num_frames - 1) % self.temporal_factor:
            k = self.temporal_factor
            below = (num_frames - 1) // k * k + 1
            problems.append(
                (
                    "num_frames",
                    f"{k}k + 1 for {self.name}'s video VAE (e.g. {below} or {below + k})",
                )
            )
        if self.max_frames is not None and num_frames > self.max_frames:
            problems.append(
                (
                    "num_frames",
                    f"at most {self.max_frames} for {self.name} (its motion module's positional "
                    "encoding length)",
                )
            )
        return problems

    @property
    def pretrained(self) -> bool:
        """Whether the weights are read from the hub / disk (else built in code)."""
        return bool(self.sources)

    @property
    def primary(self) -> str | None:
        """The source role that ``load_model(path=...)`` sets."""
        return next(iter(self.sources), None)

    @property
    def hub_ids(self) -> dict[str, str]:
        """Role -> default hub repository id."""
        return {role: src.repo_id for role, src in self.sources.items()}


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
_WAN_COMPONENTS = (
    Component("tokenizer", "AutoTokenizer", "tokenizer", "tokenizer"),
    Component("text_encoder", "UMT5EncoderModel", "text_encoder", "transformers"),
    # Wan's docs keep the VAE in float32.
    Component("vae", "AutoencoderKLWan", "vae", dtype="float32"),
    Component("transformer", "WanTransformer3DModel", "transformer"),
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
# Wan 2.1 480P: UniPC with flow sigmas, flow_shift 3.0 (diffusers Wan docs).
WAN_SCHEDULER = dict(
    _class_name="UniPCMultistepScheduler",
    num_train_timesteps=1000,
    prediction_type="flow_prediction",
    use_flow_sigmas=True,
    flow_shift=3.0,
)
TINY_SCHEDULER = dict(_class_name="DDIMScheduler", **tiny.SCHEDULER_CONFIG)

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
        scheduler=dict(TINY_SCHEDULER),
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


def get_model_spec(name: str) -> ModelSpec:
    """The table entry for ``name``; a ValueError lists the known names otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name]
