"""Text-video alignment: CLIP score averaged over frames (the CLIPSIM convention).

Per video: ``mean_t 100 * cos(E_I(frame_t), E_T(prompt))`` with open_clip's OpenAI ViT-B/32 image
and text embeddings, L2-normalised; overall the mean over videos. Frames get open_clip's
preprocessing on tensors (``"clip"``: shorter side to 224, bicubic with antialiasing, centre
crop 224, CLIP mean/std). Unlike torchmetrics' ``CLIPScore`` nothing is clipped at 0, so
per-video values can be averaged and compared pairwise.

Prompts are tokenised with open_clip's bundled BPE tokenizer (no network); longer than 77 tokens
they are truncated, with a warning. ``encoder="pixel"`` pairs pixel features with a hashed
pseudo-random prompt vector: it runs without weights but measures no alignment at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from evaluation.encoders import DEFAULT_BATCH_SIZE, EncoderLike, FrameEncoder, encode_videos
from evaluation.inputs import check_prompts, check_videos
from evaluation.metrics.base import EncoderVideoMetric, PreprocessLike, resolve_encoder
from evaluation.preprocessing import CLIP_SCORE, Preprocess

__all__ = ["VideoCLIPScore", "clip_score"]

DEFAULT_ENCODER = "clip_vitb32"
TextEncoder = Callable[[Sequence[str]], torch.Tensor]


def _with_text(encoder: FrameEncoder, text_encoder: TextEncoder | None) -> FrameEncoder:
    if text_encoder is not None:
        if encoder.text is not None:
            raise ValueError(
                f"text_encoder is only for injected image encoders; {encoder.name!r} has its own"
            )
        return FrameEncoder(
            encoder.name, encoder.module, encoder.model, encoder.weights, text=text_encoder
        )
    if encoder.text is None:
        raise ValueError(
            f"clip_score needs text features in the image encoder's space: pass text_encoder= "
            f"(list[str] -> (B, D)) with the injected encoder {encoder.name!r}"
        )
    return encoder


def _text_features(encoder: FrameEncoder, prompts: list[str], device: torch.device) -> torch.Tensor:
    with torch.inference_mode():
        features = encoder.text(prompts)
        if not isinstance(features, torch.Tensor) or features.dim() != 2:
            shape = getattr(features, "shape", type(features).__name__)
            raise ValueError(f"text_encoder must map B prompts to (B, D) features, got {shape}")
        if len(features) != len(prompts):
            raise ValueError(
                f"text_encoder returned {len(features)} rows for {len(prompts)} prompts"
            )
        return F.normalize(features.float().to(device), dim=-1)


def _per_video(
    videos: torch.Tensor,
    prompts: list[str],
    encoder: FrameEncoder,
    preprocess: Preprocess,
    batch_size: int,
    device: str | torch.device | None,
) -> torch.Tensor:
    image = encode_videos(videos, encoder, preprocess, batch_size=batch_size, device=device)
    text = _text_features(encoder, prompts, image.device)
    if text.shape[-1] != image.shape[-1]:
        raise ValueError(
            f"image features have {image.shape[-1]} dimensions but text features "
            f"{text.shape[-1]}: the encoders must share one embedding space"
        )
    scores = 100.0 * (image * text[:, None, :]).sum(dim=-1).clamp(-1.0, 1.0)  # (B, T)
    return scores.mean(dim=1).to(videos.device).clone()


def clip_score(
    videos: torch.Tensor,
    prompts: Sequence[str],
    encoder: EncoderLike = None,
    *,
    text_encoder: TextEncoder | None = None,
    weights: str | os.PathLike | None = None,
    preprocess: PreprocessLike = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """CLIP text-video alignment of each video: ``mean_t 100 * cos(E_I(x_t), E_T(prompt))``.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``T >= 2``.
        prompts: ``B`` strings, one per video.
        encoder: ``None`` (``"clip_vitb32"``, OpenAI CLIP ViT-B/32 via open_clip), another
            registered CLIP name, ``"pixel"``, or an ``nn.Module`` mapping preprocessed frames
            ``(N, 3, 224, 224)`` to ``(N, D)`` (then ``text_encoder`` is required).
        text_encoder: for an injected encoder: ``list[str] -> (B, D)`` in the same space.
        weights: for a registered encoder: ``None`` (Hugging Face cache), a local checkpoint, or
            ``"random"``.
        preprocess: frame preprocessing (default ``"clip"``).
        batch_size: frames per encoder call, across videos.
        device: where the encoders run (default: an injected encoder's device, else the videos').

    Returns:
        ``(B,)`` float32 per-video scores in [-100, 100] on the videos' device.

    Raises:
        ValueError: bad videos, prompts or arguments.
        WeightsNotFoundError: the encoder's weights are not on this machine.
    """
    videos = check_videos(videos)
    prompts = check_prompts(prompts, len(videos))
    frame_encoder, rule = resolve_encoder(
        encoder,
        default=DEFAULT_ENCODER,
        default_preprocess=CLIP_SCORE,
        weights=weights,
        preprocess=preprocess,
        device=device,
        fallback_device=videos.device,
        prepare=lambda e: _with_text(e, text_encoder),
    )
    return _per_video(videos, prompts, frame_encoder, rule, batch_size, device)


class VideoCLIPScore(EncoderVideoMetric):
    """CLIP text-video alignment (x100), see :func:`clip_score`.

    ``compute()`` returns ``{"clip_score[<encoder>]": mean over videos}``; ``update`` takes the
    videos and their prompts.

    Args:
        encoder: as :func:`clip_score` (default ``"clip_vitb32"``).
        text_encoder: as :func:`clip_score`, with an injected encoder.
        weights: as :func:`clip_score`; checked at construction.
        preprocess: as :func:`clip_score` (default ``"clip"``).
        batch_size: frames per encoder call.
        device: where the encoders run (default: the metric's device).
        kwargs: torchmetrics ``Metric`` options.
    """

    higher_is_better = True
    plot_lower_bound = -100.0
    plot_upper_bound = 100.0
    metric_name = "clip_score"
    default_encoder = DEFAULT_ENCODER
    default_preprocess = CLIP_SCORE

    def __init__(
        self,
        encoder: EncoderLike = None,
        *,
        text_encoder: TextEncoder | None = None,
        weights: str | os.PathLike | None = None,
        preprocess: PreprocessLike = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._text_encoder = text_encoder
        self._init_encoder(
            encoder,
            weights=weights,
            preprocess=preprocess,
            batch_size=batch_size,
            device=device,
            prepare=lambda e: _with_text(e, text_encoder),
        )
        self._add_per_video_state("scores")

    @property
    def metadata(self) -> dict[str, Any]:
        """Encoder, weights, preprocessing and pooling of the result."""
        return {
            **super().metadata,
            "formula": "mean over frames of 100 * cos(image, text), no clipping at 0",
            "pooling": "mean over videos",
        }

    def update(self, videos: torch.Tensor, prompts: Sequence[str]) -> None:
        """Add videos ``(B, T, C, H, W)`` (uint8 0-255 or float 0-1) and their ``B`` prompts."""
        videos = check_videos(videos)
        prompts = check_prompts(prompts, len(videos))
        encoder, device = self._encoder_and_device()
        scores = _per_video(videos, prompts, encoder, self._preprocess, self._batch_size, device)
        self.scores.append(scores.to(self.device))

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"clip_score[<encoder>]": mean over videos}``."""
        return {self.name: self._values("scores").mean()}

    def per_video(self) -> dict[str, torch.Tensor]:
        """``{"clip_score[<encoder>]": (N,)}`` in update order."""
        return {self.name: self._values("scores")}
