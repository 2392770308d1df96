"""Model registry: ``load_model(name)`` is the single entry point for every video pipeline.

Models (``load_model`` source arguments and their default hub repositories):

* ``tiny_animatediff``, ``tiny_modelscope``, ``tiny_wan``, ``tiny_wan22``, ``tiny_cogvideox``,
  ``tiny_ltx``, ``tiny_mochi``, ``tiny_hunyuanvideo15``: built in code with seeded random weights
  (tests); ``testbed``: trained here, shipped in the package.
* ``animatediff``: AnimateDiffPipeline; ``base=stable-diffusion-v1-5/stable-diffusion-v1-5``,
  ``adapter=guoyww/animatediff-motion-adapter-v1-5-2``.
* ``animatediff_v1``: as above with ``adapter=guoyww/animatediff-motion-adapter-v1-4`` (mm_sd_v14,
  the FreeInit paper's; an original AnimateDiff ``.ckpt`` / ``.safetensors`` file works too).
* ``modelscope``: TextToVideoSDPipeline; ``path=ali-vilab/text-to-video-ms-1.7b``.
* ``zeroscope``: TextToVideoSDPipeline; ``path=cerspense/zeroscope_v2_576w``.
* ``videocrafter2``: :class:`~freqlab.models.videocrafter2.VideoCrafterPipeline`;
  ``unet=adamdad/videocrafterv2_diffusers``, ``base=ali-vilab/text-to-video-ms-1.7b`` (its VAE and
  text encoder).
* ``animatediff_sdxl``: AnimateDiffSDXLPipeline; ``base=stabilityai/stable-diffusion-xl-base-1.0``,
  ``adapter=guoyww/animatediff-motion-adapter-sdxl-beta``.
* ``wan21_t2v_1_3b``: WanPipeline; ``path=Wan-AI/Wan2.1-T2V-1.3B-Diffusers`` (a DiT: no FreeU).
* ``wan22_ti2v_5b``, ``wan22_t2v_a14b``: WanPipeline; ``path=Wan-AI/Wan2.2-TI2V-5B-Diffusers`` /
  ``Wan-AI/Wan2.2-T2V-A14B-Diffusers`` (two experts).
* ``cogvideox_2b``, ``cogvideox_5b``: CogVideoXPipeline; ``path=THUDM/CogVideoX-2b`` / ``-5b``.
* ``ltx_video``: LTXPipeline; ``path=Lightricks/LTX-Video``.
* ``mochi``: MochiPipeline; ``path=genmo/mochi-1-preview``.
* ``hunyuanvideo15``: HunyuanVideo15Pipeline;
  ``path=hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v``.

``path=`` sets the first source of a model. Every source takes a local diffusers-format directory
or a hub id (``org/name@revision``).

Examples::

    pipe = load_model("modelscope", device="auto")       # hub or cache; fp16 on CUDA, fp32 on CPU
    pipe = load_model("modelscope", path="/data/text-to-video-ms-1.7b")
    pipe = load_model("animatediff_v1", base="/data/sd15", adapter="/data/mm_sd_v14.ckpt")
    pipe = load_model("videocrafter2", device="cuda", cpu_offload="model", vae_slicing=True)
    frames = pipe(prompt, **get_model_spec("videocrafter2").defaults).frames

Offline (``HF_HUB_OFFLINE=1``) models are read from local paths and the Hugging Face cache only;
a missing one raises :class:`WeightsNotFoundError`, which says what to download and how to point
the config at it.
"""

from freqlab.models.registry import MODELS, ModelSpec, get_model_spec, load_model
from freqlab.models.weights import WeightsNotFoundError

__all__ = ["MODELS", "ModelSpec", "WeightsNotFoundError", "get_model_spec", "load_model"]
