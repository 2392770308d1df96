"""VBench's aesthetic quality: LAION's aesthetic predictor v1 on CLIP ViT-L/14 frame embeddings.

Per video, as VBench's ``aesthetic_quality.py`` (``laion_aesthetic``): every frame is
preprocessed with ``clip_transform(224)`` (shorter side to 224, bicubic, no antialiasing, no
clamp, centre crop 224, CLIP mean/std: the ``"vbench_clip"`` rule of
:mod:`evaluation.preprocessing`), embedded with OpenAI's CLIP ViT-L/14 image tower (768-d
projection), L2-normalised, and scored by LAION's linear head ``sa_0_4_vit_l_14_linear.pth``
(``Linear(768, 1)``); the score divided by 10, averaged over frames. The set value is the mean
over videos. LAION scores are nominally 1-10, so values lie about in [0, 1].

Weights, never downloaded:

* CLIP ViT-L/14 (``clip_vitl14``, registered here in :data:`evaluation.encoders.ENCODERS`):
  open_clip ``ViT-L-14-quickgelu`` with OpenAI's weights as the Hugging Face repository
  ``timm/vit_large_patch14_clip_224.openai`` publishes them (what
  ``open_clip.create_model('ViT-L-14', pretrained='openai')`` loads), from ``weights=`` or the
  hub cache.
* The head (4,071 bytes, ``OrderedDict{weight: [1, 768], bias: [1]}``), published in the
  LAION-AI/aesthetic-predictor GitHub repository only: from ``head_weights=``, else VBench's cache
  ``$VBENCH_CACHE_DIR/aesthetic_model/emb_reader/`` (default ``~/.cache/vbench``), so one
  download serves both; read with ``torch.load(weights_only=True)``.

Difference from VBench: VBench runs OpenAI's ``clip`` package, which keeps the tower in fp16 on
a GPU (LayerNorm in fp32); here the tower runs in fp32 on any device. The reference expects
about 1e-3 on the score from that (UNCONFIRMED).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from evaluation.checkpoints import WeightsSource, load_state_dict, resolve_weights
from evaluation.encoders import (
    ENCODERS,
    EncoderLike,
    EncoderSpec,
    FrameEncoder,
    encode_videos,
    register_encoder,
)
from evaluation.inputs import check_videos
from evaluation.metrics.base import EncoderVideoMetric, PreprocessLike, resolve_encoder
from evaluation.preprocessing import CLIP_MEAN, CLIP_STD, VBENCH_CLIP, Preprocess

__all__ = [
    "CLIP_VITL14",
    "LAION_HEAD_FILE",
    "LAION_HEAD_SHA256",
    "LAION_HEAD_URL",
    "AestheticQuality",
    "aesthetic_quality",
    "load_aesthetic_head",
    "resolve_aesthetic_head",
]

DEFAULT_ENCODER = "clip_vitl14"
HEAD_NAME = "laion_v1"
EMBED_DIM = 768
LAION_HEAD_FILE = "sa_0_4_vit_l_14_linear.pth"
LAION_HEAD_URL = (
    "https://raw.githubusercontent.com/LAION-AI/aesthetic-predictor/main/" + LAION_HEAD_FILE
)
LAION_HEAD_SHA256 = "2cd4e60f4f24ae3bcd57b847b13c1f3ba27edc28cc1a7f9ce74ee9f421243cba"
VBENCH_BATCH_SIZE = 32  # frames per CLIP call in VBench; results do not depend on it

CLIP_VITL14 = EncoderSpec(
    name=DEFAULT_ENCODER,
    library="open_clip",
    # OpenAI's CLIP uses QuickGELU; open_clip's 'ViT-L-14' + pretrained='openai' switches it on,
    # a local file does not, hence the -quickgelu config.
    model_id="ViT-L-14-quickgelu",
    hub_id="timm/vit_large_patch14_clip_224.openai",
    hub_filenames=("open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
    mean=CLIP_MEAN,
    std=CLIP_STD,
    description="OpenAI CLIP ViT-L/14",
)
if CLIP_VITL14.name not in ENCODERS:  # shared registry: a later registration of it wins
    register_encoder(CLIP_VITL14)


def _vbench_cache_dir() -> Path:
    """VBench's cache (``$VBENCH_CACHE_DIR``, else ``~/.cache/vbench``), read when called."""
    return Path(os.environ.get("VBENCH_CACHE_DIR") or Path.home() / ".cache" / "vbench")


def resolve_aesthetic_head(
    weights: str | os.PathLike | None = None, argument: str = "head_weights"
) -> WeightsSource:
    """Where LAION's v1 linear head is: ``weights`` (a file, a directory holding
    ``sa_0_4_vit_l_14_linear.pth``, or ``"random"``), else VBench's cache. Nothing is downloaded.

    Raises:
        WeightsNotFoundError: the file is not on this machine; the message gives the download
            command and the argument to set.
    """
    cached = _vbench_cache_dir() / "aesthetic_model" / "emb_reader" / LAION_HEAD_FILE
    return resolve_weights(
        f"the LAION aesthetic predictor v1 head {LAION_HEAD_FILE!r} (Linear(768, 1) on CLIP "
        f"ViT-L/14 embeddings, published at {LAION_HEAD_URL})",
        weights,
        hub_filenames=(LAION_HEAD_FILE,),
        cache_files=[cached],
        download_hint=f"curl -L --create-dirs -o {cached} {LAION_HEAD_URL}",
        argument=argument,
        cache_env="VBENCH_CACHE_DIR",
    )


def _check_head_keys(state: dict[str, torch.Tensor], path: Path) -> None:
    expected = {"weight": (1, EMBED_DIM), "bias": (1,)}
    problem = None
    for key, shape in expected.items():
        if key not in state:
            problem = f"missing key {key!r}"
        elif tuple(state[key].shape) != shape:
            problem = f"{key!r} has shape {tuple(state[key].shape)}, expected {shape}"
        if problem:
            break
    if problem is None:
        extra = next((key for key in state if key not in expected), None)
        problem = None if extra is None else f"unexpected key {extra!r}"
    if problem is not None:
        raise ValueError(
            f"{path} is not LAION's {LAION_HEAD_FILE} (a Linear({EMBED_DIM}, 1) state dict "
            f"with 'weight' [1, {EMBED_DIM}] and 'bias' [1]): {problem}"
        )


def load_aesthetic_head(
    weights: str | os.PathLike | None = None, argument: str = "head_weights"
) -> tuple[nn.Linear, dict[str, Any]]:
    """LAION's v1 head as ``nn.Linear(768, 1)`` in eval mode on the CPU, and where it came from.

    Args:
        weights: as :func:`resolve_aesthetic_head`; ``"random"`` gives seed-0 random weights.
        argument: the argument or config key that error messages name.

    Returns:
        The head and metadata: ``head_weights`` (the source) and, for a file, ``head_sha256`` and
        ``head_published`` (whether it is the published file, byte for byte).

    Raises:
        WeightsNotFoundError: no file (see :func:`resolve_aesthetic_head`).
        ValueError: a checkpoint whose keys or shapes are not the head's (first mismatch named).
    """
    source = resolve_aesthetic_head(weights, argument)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        head = nn.Linear(EMBED_DIM, 1)
    info: dict[str, Any] = {"head_weights": str(source)}
    if source.path is not None:
        state = load_state_dict(source.path)
        _check_head_keys(state, source.path)
        head.load_state_dict(state)
        digest = hashlib.sha256(source.path.read_bytes()).hexdigest()
        info.update(head_sha256=digest, head_published=digest == LAION_HEAD_SHA256)
    return head.eval().requires_grad_(False), info


def _resolve_head(
    head: nn.Module | None, head_weights: str | os.PathLike | None
) -> tuple[nn.Module, str, dict[str, Any]]:
    """(head module, its name in result names, metadata)."""
    if head is None:
        module, info = load_aesthetic_head(head_weights)
        name = f"{HEAD_NAME}@random" if info["head_weights"] == "random" else HEAD_NAME
        return module, name, info
    if head_weights is not None:
        raise ValueError("head_weights is only used with LAION's head, not an injected head")
    if not isinstance(head, nn.Module):
        raise ValueError(f"head must be an nn.Module or None, got {type(head).__name__}")
    return head.eval(), f"custom:{type(head).__name__}", {"head_weights": "injected"}


def _result_name(encoder: FrameEncoder, head_name: str) -> str:
    """``laion_v1`` for VBench's pair (CLIP ViT-L/14 with real weights and LAION's head file);
    otherwise both parts, e.g. ``clip_vitl14@random+laion_v1@random``."""
    if encoder.name == DEFAULT_ENCODER and head_name == HEAD_NAME:
        return HEAD_NAME
    return f"{encoder.name}+{head_name}"


def _per_video(
    videos: torch.Tensor,
    encoder: FrameEncoder,
    head: nn.Module,
    preprocess: Preprocess,
    batch_size: int,
    device: str | torch.device | None,
) -> torch.Tensor:
    features = encode_videos(videos, encoder, preprocess, batch_size=batch_size, device=device)
    b, t, dim = features.shape  # unit vectors, float32, as VBench's F.normalize(p=2)
    expected = getattr(head, "in_features", dim)
    if dim != expected:
        raise ValueError(
            f"the head takes {expected}-d embeddings but encoder {encoder.name!r} gives {dim}-d "
            f"ones: LAION's head needs CLIP ViT-L/14 (768-d)"
        )
    parameter = next(head.parameters(), None)
    if parameter is not None and parameter.device != features.device:
        head = head.to(features.device)
    with torch.inference_mode():
        scores = head(features.reshape(b * t, dim))
    if not isinstance(scores, torch.Tensor) or scores.numel() != b * t:
        shape = getattr(scores, "shape", type(scores).__name__)
        raise ValueError(f"the head must map (N, {dim}) to (N, 1) scores, got {shape}")
    per_frame = scores.float().reshape(b, t) / 10  # LAION's 1-10 scale to about [0, 1]
    return per_frame.mean(dim=1).to(videos.device).clone()


def aesthetic_quality(
    videos: torch.Tensor,
    encoder: EncoderLike = None,
    *,
    weights: str | os.PathLike | None = None,
    head: nn.Module | None = None,
    head_weights: str | os.PathLike | None = None,
    preprocess: PreprocessLike = None,
    batch_size: int = VBENCH_BATCH_SIZE,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """VBench aesthetic quality of each video: mean over frames of LAION's score / 10.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``C`` in {1, 3}, ``T >= 2``.
        encoder: ``None`` (``"clip_vitl14"``), another registered name, or an ``nn.Module``
            mapping preprocessed frames ``(N, 3, 224, 224)`` to embeddings ``(N, 768)``.
        weights: for a registered encoder: ``None`` (Hugging Face cache), a local checkpoint file
            or directory, or ``"random"`` (smoke tests).
        head: ``None`` (LAION's v1 head) or a module ``(N, 768) -> (N, 1)`` on unit embeddings.
        head_weights: LAION's head file or a directory holding it (``None``: VBench's cache;
            ``"random"``: tests).
        preprocess: a :class:`~evaluation.preprocessing.Preprocess`, a preset name or a dict of
            its fields (default ``"vbench_clip"``).
        batch_size: frames per encoder call, across videos.
        device: where the encoder runs (default: an injected encoder's device, else the videos').

    Returns:
        ``(B,)`` float32 on the videos' device, about in [0, 1].

    Raises:
        ValueError: bad videos or arguments, a head file with wrong keys.
        WeightsNotFoundError: CLIP's or the head's weights are not on this machine.
    """
    videos = check_videos(videos)
    head_module, _, _ = _resolve_head(head, head_weights)
    frame_encoder, rule = resolve_encoder(
        encoder,
        default=DEFAULT_ENCODER,
        default_preprocess=VBENCH_CLIP,
        weights=weights,
        preprocess=preprocess,
        device=device,
        fallback_device=videos.device,
    )
    return _per_video(videos, frame_encoder, head_module, rule, batch_size, device)


class AestheticQuality(EncoderVideoMetric):
    """VBench aesthetic quality, see :func:`aesthetic_quality`.

    ``compute()`` returns ``{"aesthetic_quality[laion_v1]": mean over videos}``; the name says
    ``<encoder>+<head>`` instead of ``laion_v1`` for anything but CLIP ViT-L/14 with real weights
    and LAION's head file (e.g. ``clip_vitl14@random+laion_v1@random``, ``custom:Net+laion_v1``).

    Args:
        encoder: as :func:`aesthetic_quality` (default ``"clip_vitl14"``).
        weights: as :func:`aesthetic_quality`; checked at construction.
        head: as :func:`aesthetic_quality`.
        head_weights: as :func:`aesthetic_quality`; checked at construction.
        preprocess: as :func:`aesthetic_quality` (default ``"vbench_clip"``).
        batch_size: frames per encoder call.
        device: where the encoder runs (default: the metric's device).
        kwargs: torchmetrics ``Metric`` options.
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0
    metric_name = "aesthetic_quality"
    default_encoder = DEFAULT_ENCODER
    default_preprocess = VBENCH_CLIP

    def __init__(
        self,
        encoder: EncoderLike = None,
        *,
        weights: str | os.PathLike | None = None,
        head: nn.Module | None = None,
        head_weights: str | os.PathLike | None = None,
        preprocess: PreprocessLike = None,
        batch_size: int = VBENCH_BATCH_SIZE,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # the 4 KB head first: its absence is reported before CLIP ViT-L/14 is built
        self._head, self._head_name, self._head_info = _resolve_head(head, head_weights)
        self._init_encoder(
            encoder, weights=weights, preprocess=preprocess, batch_size=batch_size, device=device
        )
        self._add_per_video_state("scores")

    @property
    def name(self) -> str:
        """``aesthetic_quality[laion_v1]`` (see the class docstring for other models)."""
        return f"{self.metric_name}[{_result_name(self._encoder, self._head_name)}]"

    @property
    def metadata(self) -> dict[str, Any]:
        """Encoder, preprocessing, head and scale of the result."""
        return {
            **super().metadata,
            **self._head_info,
            "head": self._head_name,
            "score": "mean over frames of head(normalize(CLIP image embedding)) / 10",
            "pooling": "mean over videos",
        }

    def update(self, videos: torch.Tensor) -> None:
        """Add a batch of videos ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1)."""
        videos = check_videos(videos)
        encoder, device = self._encoder_and_device()
        scores = _per_video(videos, encoder, self._head, self._preprocess, self._batch_size, device)
        self.scores.append(scores.to(self.device))

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"aesthetic_quality[laion_v1]": mean over videos}``."""
        return {self.name: self._values("scores").mean()}

    def per_video(self) -> dict[str, torch.Tensor]:
        """``{"aesthetic_quality[laion_v1]": (N,)}`` in update order."""
        return {self.name: self._values("scores")}
