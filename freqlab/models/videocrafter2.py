"""VideoCrafter2 in diffusers: the fps-conditioned UNet, its sampler and its pipeline.

VideoCrafter2 (Chen et al. 2024, AILab-CVC/VideoCrafter, ``configs/inference_t2v_512_v2.0.yaml``) is
a ModelScope-style 3D UNet (SD 2.1 layout, 320/640/1280/1280 channels, OpenCLIP ViT-H/14 penultimate
text features, SD VAE with scale factor 0.18215) with two additions that stock diffusers lacks:

* **frame-rate conditioning** (``fps_cond: true``): the UNet adds an embedding of the frame rate to
  the timestep embedding, ``emb = time_embed(sin(t)) + fps_embedding(sin(fps))``, both through the
  same sinusoidal projection (cos first, no shift). The diffusers conversion
  ``adamdad/videocrafterv2_diffusers`` stores it as ``fps_embedding.linear_{1,2}`` next to the
  ``UNet3DConditionModel`` weights (config ``_class_name: UNet3DVideoCrafterConditionModel``,
  ``fps_cond: true``), as the Video-Infinity wrapper (``src/video_crafter.py``) loads it.
* **a timestep-dependent data scale** (``use_scale: true, scale_b: 0.7``): training noised
  ``s_t x0`` instead of ``x0``, with ``s_t`` going linearly from 1 to 0.7 over t = 0..399 and 0.7
  after, and the DDIM sampler (``lvdm/models/samplers/ddim.py``) divides the predicted ``x0`` by
  ``s_t`` and re-scales it by ``s_{t_prev}``. :class:`VideoCrafterDDIMScheduler` does exactly that.

The official sampling settings (``scripts/run_text2video.sh``, base_512_v2): 16 frames at 320x512,
50 DDIM steps with eta 1.0, guidance 12.0, fps 28. Timesteps are LDM's "uniform" DDIM steps
``range(0, 1000, 1000 // S) + 1`` (diffusers ``timestep_spacing="leading"``, ``steps_offset=1``).

Everything here runs through diffusers' own UNet3D and TextToVideoSD code, so FreeInit (any pipeline
that takes ``latents=``) and FreeU (``UNet3DConditionModel`` up blocks) apply unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from diffusers import DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput

__all__ = [
    "DEFAULT_FPS",
    "UNet3DVideoCrafterConditionModel",
    "VideoCrafterDDIMScheduler",
    "VideoCrafterPipeline",
    "data_scale_schedule",
]

# scripts/run_text2video.sh (base_512_v2): --fps 28, 320x512.
DEFAULT_FPS = 28
DEFAULT_HEIGHT, DEFAULT_WIDTH = 320, 512


class UNet3DVideoCrafterConditionModel(UNet3DConditionModel):
    """``UNet3DConditionModel`` plus VideoCrafter2's frame-rate conditioning.

    Same arguments as :class:`diffusers.UNet3DConditionModel`, plus:

    Args:
        fps_cond: add ``fps_embedding(fps_proj(fps))`` to the timestep embedding.
        default_fps: the frame rate used when :meth:`forward` gets none (and no
            :meth:`fps_conditioning` block is active).

    ``forward(..., fps=...)`` takes an int, a float or a tensor of shape ``()`` or ``(B,)``.
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 4,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlock3D",
            "CrossAttnDownBlock3D",
            "CrossAttnDownBlock3D",
            "DownBlock3D",
        ),
        up_block_types: tuple[str, ...] = (
            "UpBlock3D",
            "CrossAttnUpBlock3D",
            "CrossAttnUpBlock3D",
            "CrossAttnUpBlock3D",
        ),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        downsample_padding: int = 1,
        mid_block_scale_factor: float = 1,
        act_fn: str = "silu",
        norm_num_groups: int | None = 32,
        norm_eps: float = 1e-5,
        cross_attention_dim: int = 1024,
        attention_head_dim: int | tuple[int] = 64,
        num_attention_heads: int | tuple[int] | None = None,
        time_cond_proj_dim: int | None = None,
        fps_cond: bool = True,
        default_fps: float = DEFAULT_FPS,
    ) -> None:
        super().__init__(
            sample_size=sample_size,
            in_channels=in_channels,
            out_channels=out_channels,
            down_block_types=down_block_types,
            up_block_types=up_block_types,
            block_out_channels=block_out_channels,
            layers_per_block=layers_per_block,
            downsample_padding=downsample_padding,
            mid_block_scale_factor=mid_block_scale_factor,
            act_fn=act_fn,
            norm_num_groups=norm_num_groups,
            norm_eps=norm_eps,
            cross_attention_dim=cross_attention_dim,
            attention_head_dim=attention_head_dim,
            num_attention_heads=num_attention_heads,
            time_cond_proj_dim=time_cond_proj_dim,
        )
        if fps_cond:
            # Same projection as the timesteps (UNet3DConditionModel.time_proj), own MLP.
            self.fps_proj = Timesteps(block_out_channels[0], True, 0)
            self.fps_embedding = TimestepEmbedding(
                block_out_channels[0], block_out_channels[0] * 4, act_fn=act_fn
            )
        self._active_fps: Any = None

    @contextmanager
    def fps_conditioning(self, fps: Any) -> Iterator[None]:
        """Within the block, every :meth:`forward` without ``fps=`` uses ``fps`` (``None``: the
        config's ``default_fps``). Pipelines that call the UNet themselves use this."""
        previous, self._active_fps = self._active_fps, fps
        try:
            yield
        finally:
            self._active_fps = previous

    def fps_embedding_for(self, fps: Any, batch: int, device: torch.device) -> torch.Tensor:
        """The embedding added to the timestep embedding: ``(batch, 4 * block_out_channels[0])``."""
        fps = torch.as_tensor(fps, device=device)
        if fps.ndim == 0:
            fps = fps.expand(batch)
        if fps.shape != (batch,):
            raise ValueError(
                f"fps must be a number or a ({batch},) tensor, got shape {tuple(fps.shape)}"
            )
        # Timesteps returns float32 whatever the input; the MLP runs in the model's dtype.
        return self.fps_embedding(self.fps_proj(fps).to(dtype=self.dtype))

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        timestep_cond: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        down_block_additional_residuals: tuple[torch.Tensor] | None = None,
        mid_block_additional_residual: torch.Tensor | None = None,
        return_dict: bool = True,
        fps: Any = None,
    ) -> Any:
        """:meth:`UNet3DConditionModel.forward` with ``fps`` (see the class docstring).

        ``sample`` is ``(B, C, T, h, w)``; the fps embedding ``(B, 4C)`` is added to the output of
        ``time_embedding`` (before it is repeated per frame), as VideoCrafter2 does.
        """
        handle = None
        if self.config.fps_cond:
            if fps is None:
                fps = self._active_fps if self._active_fps is not None else self.config.default_fps
            fps_emb = self.fps_embedding_for(fps, sample.shape[0], sample.device)
            handle = self.time_embedding.register_forward_hook(_add_to_output(fps_emb))
        elif fps is not None:
            raise ValueError("fps was given, but this UNet has fps_cond=False")
        try:
            return super().forward(
                sample,
                timestep,
                encoder_hidden_states,
                class_labels=class_labels,
                timestep_cond=timestep_cond,
                attention_mask=attention_mask,
                cross_attention_kwargs=cross_attention_kwargs,
                down_block_additional_residuals=down_block_additional_residuals,
                mid_block_additional_residual=mid_block_additional_residual,
                return_dict=return_dict,
            )
        finally:
            if handle is not None:
                handle.remove()


def _add_to_output(extra: torch.Tensor) -> Callable[[torch.nn.Module, Any, torch.Tensor], Any]:
    def hook(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return output + extra.to(output.dtype)

    return hook


# --------------------------------------------------------------------------- scheduler


def data_scale_schedule(
    num_train_timesteps: int, scale_start: float, scale_end: float, mid_step: int
) -> torch.Tensor:
    """VideoCrafter2's ``scale_arr``: ``s_t`` for t = 0..T-1, float32.

    ``linspace(scale_start, scale_end, mid_step)`` for t < mid_step, ``scale_end`` after
    (``lvdm/models/ddpm3d.py`` with ``fix_scale_bug=False``, the released setting).
    """
    ramp = np.linspace(scale_start, scale_end, mid_step)
    scales = np.concatenate([ramp, np.full(max(num_train_timesteps, 0), scale_end)])
    return torch.tensor(scales[:num_train_timesteps], dtype=torch.float32)


class VideoCrafterDDIMScheduler(DDIMScheduler):
    """DDIM with VideoCrafter2's data scale ``s_t`` (``use_scale``).

    The forward process is ``x_t = sqrt(a_t) s_t x0 + sqrt(1 - a_t) eps`` (:meth:`add_noise`), and a
    step maps the network's ``x0`` prediction ``p`` (which estimates ``s_t x0``) to
    ``x_prev = sqrt(a_prev) (s_prev / s_t) p + sqrt(1 - a_prev - sigma^2) eps + sigma z``,
    with ``s_prev = s_0 = 1`` after the last step. ``pred_original_sample`` is ``p / s_t``.
    ``scale_end = scale_start`` gives plain :class:`diffusers.DDIMScheduler` exactly.

    Defaults are VideoCrafter2's: scaled-linear betas 0.00085 -> 0.012 (LDM's "linear"),
    ``set_alpha_to_one=False``, ``steps_offset=1``, "leading" spacing, ``s_t``: 1 -> 0.7 over
    400 steps.

    Also: with ``eta > 0`` and one generator per video (the diffusers convention, as
    ``FreeInit(rng="per_sample")`` passes them), TextToVideoSDPipeline hands the scheduler frames
    folded into the batch; each video's frames then draw their noise from that video's generator
    (stock DDIM would index the generator list by frame and fail).
    """

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.00085,
        beta_end: float = 0.012,
        beta_schedule: str = "scaled_linear",
        trained_betas: Any = None,
        clip_sample: bool = False,
        set_alpha_to_one: bool = False,
        steps_offset: int = 1,
        prediction_type: str = "epsilon",
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        clip_sample_range: float = 1.0,
        sample_max_value: float = 1.0,
        timestep_spacing: str = "leading",
        rescale_betas_zero_snr: bool = False,
        scale_start: float = 1.0,
        scale_end: float = 0.7,
        scale_mid_step: int = 400,
    ) -> None:
        super().__init__(
            num_train_timesteps=num_train_timesteps,
            beta_start=beta_start,
            beta_end=beta_end,
            beta_schedule=beta_schedule,
            trained_betas=trained_betas,
            clip_sample=clip_sample,
            set_alpha_to_one=set_alpha_to_one,
            steps_offset=steps_offset,
            prediction_type=prediction_type,
            thresholding=thresholding,
            dynamic_thresholding_ratio=dynamic_thresholding_ratio,
            clip_sample_range=clip_sample_range,
            sample_max_value=sample_max_value,
            timestep_spacing=timestep_spacing,
            rescale_betas_zero_snr=rescale_betas_zero_snr,
        )
        self.data_scales = data_scale_schedule(
            num_train_timesteps, scale_start, scale_end, scale_mid_step
        )

    def _scale(self, t: int) -> float:
        return float(self.data_scales[t]) if t >= 0 else float(self.data_scales[0])

    def add_noise(
        self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.IntTensor
    ) -> torch.Tensor:
        """``sqrt(a_t) s_t x0 + sqrt(1 - a_t) noise`` (VideoCrafter2's ``q_sample``)."""
        scales = self.data_scales.to(original_samples.device, original_samples.dtype)
        s = scales[timesteps.to(original_samples.device)].flatten()
        s = s.reshape(-1, *([1] * (original_samples.ndim - 1)))
        return super().add_noise(original_samples * s, noise, timesteps)

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        eta: float = 0.0,
        use_clipped_model_output: bool = False,
        generator: Any = None,
        variance_noise: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> DDIMSchedulerOutput | tuple:
        """One DDIM step with the data scale (see the class docstring); same arguments as
        :meth:`diffusers.DDIMScheduler.step`."""
        if eta > 0 and variance_noise is None and _per_video(generator, sample.shape[0]):
            variance_noise = _per_video_noise(generator, model_output)
            generator = None
        out = super().step(
            model_output,
            timestep,
            sample,
            eta=eta,
            use_clipped_model_output=use_clipped_model_output,
            generator=generator,
            variance_noise=variance_noise,
            return_dict=True,
        )
        t = int(timestep)
        prev_t = t - self.config.num_train_timesteps // self.num_inference_steps
        s_t, s_prev = self._scale(t), self._scale(prev_t)
        prev_sample, x0 = out.prev_sample, out.pred_original_sample
        if s_t != s_prev:
            a_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else self.final_alpha_cumprod
            prev_sample = prev_sample + float(a_prev) ** 0.5 * (s_prev / s_t - 1.0) * x0
        x0 = x0 / s_t
        if not return_dict:
            return prev_sample, x0
        return DDIMSchedulerOutput(prev_sample=prev_sample, pred_original_sample=x0)


def _per_video(generator: Any, batch: int) -> bool:
    """A list of generators, one per video, for a batch with frames folded in."""
    return (
        isinstance(generator, list)
        and len(generator) > 1
        and len(generator) != batch
        and batch % len(generator) == 0
    )


def _per_video_noise(generators: list[torch.Generator], like: torch.Tensor) -> torch.Tensor:
    per_video = like.shape[0] // len(generators)
    shape = (per_video, *like.shape[1:])
    chunks = [
        torch.randn(shape, generator=g, device=g.device, dtype=like.dtype).to(like.device)
        for g in generators
    ]
    return torch.cat(chunks)


# --------------------------------------------------------------------------- pipeline


class VideoCrafterPipeline(TextToVideoSDPipeline):
    """TextToVideoSDPipeline for VideoCrafter2: passes ``fps`` to the UNet, and defaults to the
    official settings (320x512, 16 frames, 50 steps, guidance 12.0, eta 1.0, fps 28).

    Components as :class:`diffusers.TextToVideoSDPipeline`; ``unet`` is a
    :class:`UNet3DVideoCrafterConditionModel` (a plain ``UNet3DConditionModel`` works too, without
    fps). Use :class:`VideoCrafterDDIMScheduler` for the official sampler.
    """

    def __init__(
        self,
        vae: Any,
        text_encoder: Any,
        tokenizer: Any,
        unet: UNet3DConditionModel,
        scheduler: Any,
    ) -> None:
        # TextToVideoSDPipeline is frozen upstream (DeprecatedPipelineMixin) and warns about itself
        # under our name on every construction; diffusers is pinned, so the warning is noise here.
        pipeline_logger = logging.getLogger("diffusers.pipelines.pipeline_utils")
        level = pipeline_logger.level
        pipeline_logger.setLevel(logging.ERROR)
        try:
            super().__init__(
                vae=vae,
                text_encoder=text_encoder,
                tokenizer=tokenizer,
                unet=unet,
                scheduler=scheduler,
            )
        finally:
            pipeline_logger.setLevel(level)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        height: int = DEFAULT_HEIGHT,
        width: int = DEFAULT_WIDTH,
        num_frames: int = 16,
        num_inference_steps: int = 50,
        guidance_scale: float = 12.0,
        negative_prompt: str | list[str] | None = None,
        eta: float = 1.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        output_type: str | None = "np",
        return_dict: bool = True,
        callback: Callable[[int, int, torch.Tensor], None] | None = None,
        callback_steps: int = 1,
        cross_attention_kwargs: dict[str, Any] | None = None,
        clip_skip: int | None = None,
        fps: float | None = None,
    ) -> Any:
        """Generate videos; the arguments of :meth:`TextToVideoSDPipeline.__call__`, plus ``fps``
        (the frame rate the UNet is conditioned on; ``None``: the UNet's ``default_fps``)."""
        has_fps = bool(getattr(self.unet.config, "fps_cond", False))
        if fps is not None and not has_fps:
            raise ValueError("fps was given, but the pipeline's unet has no fps conditioning")
        kwargs = dict(
            prompt=prompt,
            height=height,
            width=width,
            num_frames=num_frames,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            negative_prompt=negative_prompt,
            eta=eta,
            generator=generator,
            latents=latents,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            output_type=output_type,
            return_dict=return_dict,
            callback=callback,
            callback_steps=callback_steps,
            cross_attention_kwargs=cross_attention_kwargs,
            clip_skip=clip_skip,
        )
        if not has_fps:
            return super().__call__(**kwargs)
        with self.unet.fps_conditioning(fps):
            return super().__call__(**kwargs)
