"""MUSIQ (Ke et al., ICCV 2021), the image-quality transformer behind VBench's ``imaging_quality``,
written here so that pyiqa's published checkpoints load with ``strict=True`` and
``torch.load(weights_only=True)``; pyiqa itself (non-commercial licence) is not used.

One image ``(3, H, W)`` in [0, 1] becomes a sequence of 32 x 32 patches from three scales:

* the image resized (bicubic, no antialias) so that its longer side is 224, then 384
  (scale ids 0 and 1); each scale's patches are zero-padded to ``ceil(side / 32)^2`` tokens
  (49 and 144) with input mask 0 on the padding;
* the image at its own resolution (scale id 2), all patches, no padding.

Pixels are mapped to [-1, 1] first; each scale is zero-padded TF-"SAME" style to multiples of 32.
Each patch carries a hashed spatial position ``gh * 10 + gw`` on a 10 x 10 grid (``gh = floor(i *
10 / rows)``, as nearest-neighbour resampling computes it), its scale id and its mask.

A patch goes through a small ResNet stem (weight-standardised convolutions, GroupNorm) to
``(256, 8, 8)``, is flattened channels-last to 16,384 values and projected to 384. The hashed
position embedding and the scale embedding are added, a CLS token is prepended, and 14 pre-norm
transformer blocks (6 heads, MLP 1152, exact GELU; masked attention logits set to -1000) lead to
a linear head on the normalised CLS token: one MOS value (SPAQ: 0-100).

Weights: ``musiq_spaq_ckpt-358bb6af.pth`` (pyiqa's SPAQ checkpoint, as VBench uses), 248 tensors,
27,125,825 parameters, published in the Hugging Face repository ``chaofengc/IQA-PyTorch-Weights``
and as a GitHub release asset of chaofengc/IQA-PyTorch (``v0.1-weights``); the weights' licence is
CC BY-NC-SA 4.0. They are found as a local file, in the Hugging Face cache, in pyiqa's cache
(``$TORCH_HOME/hub/pyiqa/``) or in VBench's (``$VBENCH_CACHE_DIR/pyiqa_model/``), and are never
downloaded.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.checkpoints import WeightsSource, load_state_dict, resolve_weights

__all__ = [
    "MUSIQ",
    "MUSIQ_SPAQ_FILE",
    "MUSIQ_SPAQ_HUB_ID",
    "MultiScaleTokens",
    "check_musiq_state_dict",
    "load_musiq",
    "multiscale_tokens",
    "resolve_musiq_weights",
]

MUSIQ_SPAQ_HUB_ID = "chaofengc/IQA-PyTorch-Weights"
MUSIQ_SPAQ_FILE = "musiq_spaq_ckpt-358bb6af.pth"
MUSIQ_SPAQ_RELEASE_URL = (
    "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/" + MUSIQ_SPAQ_FILE
)
# The published checkpoint, for checks: tensor count and parameter count.
MUSIQ_NUM_TENSORS = 248
MUSIQ_NUM_PARAMS = 27_125_825

# Masked attention logits are *set* to this value (not -inf): a fully masked row (a padding
# token's query) then stays finite, and a padded key's weight exp(-1000 - max) is exactly 0.
MASKED_LOGIT = -1e3


# --------------------------------------------------------------------------- tokens


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one dimension: ``(before, after)``, the extra pixel after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad ``(N, C, H, W)`` so that a ``kernel``/``stride`` window gives ``ceil(H / stride)``
    outputs, TensorFlow-style."""
    top, bottom = same_padding(x.shape[-2], kernel, stride)
    left, right = same_padding(x.shape[-1], kernel, stride)
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom))
    return x


def hashed_grid_index(count: int, grid_size: int) -> torch.Tensor:
    """Which of ``grid_size`` hash cells each of ``count`` patch rows (or columns) falls in.

    Computed with nearest-neighbour resampling of ``arange(grid_size)``, as the reference does, so
    that the float rounding of ``i * grid_size / count`` is the same. Returns ``(count,)`` int64.
    """
    grid = torch.arange(grid_size, dtype=torch.float32).reshape(1, 1, grid_size)
    return F.interpolate(grid, size=count, mode="nearest").reshape(count).long()


@dataclass(frozen=True)
class MultiScaleTokens:
    """The patch sequence of a batch of equally sized images.

    Attributes:
        patches: ``(N, L, 3, p, p)`` pixel patches in [-1, 1] (zeros where padded).
        spatial: ``(L,)`` int64 hashed positions in ``[0, grid^2)`` (0 on padding).
        scale: ``(L,)`` int64 scale ids (0 on padding).
        mask: ``(L,)`` bool, False on padding tokens.
    """

    patches: torch.Tensor
    spatial: torch.Tensor
    scale: torch.Tensor
    mask: torch.Tensor


def _patches_of(
    image: torch.Tensor, patch_size: int, grid_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping patches of ``(N, 3, h, w)``, SAME-padded; ``(N, L, 3, p, p)`` in row-major
    patch order (as ``F.unfold``) and their ``(L,)`` hashed positions."""
    x = pad_same(image, patch_size, patch_size)
    n, c, h, w = x.shape
    rows, cols = h // patch_size, w // patch_size
    patches = x.reshape(n, c, rows, patch_size, cols, patch_size).permute(0, 2, 4, 1, 3, 5)
    patches = patches.reshape(n, rows * cols, c, patch_size, patch_size)
    gh, gw = hashed_grid_index(rows, grid_size), hashed_grid_index(cols, grid_size)
    spatial = (gh[:, None] * grid_size + gw[None, :]).reshape(-1)
    return patches, spatial


def multiscale_tokens(
    images: torch.Tensor,
    *,
    patch_size: int = 32,
    grid_size: int = 10,
    longer_side_lengths: tuple[int, ...] = (224, 384),
    original_resolution: bool = True,
) -> MultiScaleTokens:
    """MUSIQ's multi-scale patch sequence.

    Args:
        images: ``(N, 3, H, W)`` already mapped to [-1, 1].
        patch_size: patch side (and stride).
        grid_size: side of the hashed spatial-position grid.
        longer_side_lengths: the resized scales (sorted; scale id = rank). Scale ``s`` resizes to
            ``(round(H * s / max(H, W)), round(W * s / max(H, W)))`` with bicubic interpolation
            (``align_corners=False``, no antialias, no clamp) and pads or cuts to
            ``ceil(s / patch_size)^2`` tokens.
        original_resolution: append every patch of the unresized image (scale id
            ``len(longer_side_lengths)``), unpadded.

    Returns:
        A :class:`MultiScaleTokens`; e.g. 512 x 320 gives 49 + 144 + 160 = 353 tokens.
    """
    n, _, h, w = images.shape
    parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
    device = images.device
    for scale_id, side in enumerate(sorted(longer_side_lengths)):
        ratio = side / max(h, w)
        size = (round(h * ratio), round(w * ratio))
        resized = F.interpolate(images, size=size, mode="bicubic", align_corners=False)
        patches, spatial = _patches_of(resized, patch_size, grid_size)
        length = math.ceil(side / patch_size) ** 2
        count = min(patches.shape[1], length)
        padded = patches.new_zeros(n, length, *patches.shape[2:])
        padded[:, :count] = patches[:, :count]
        index = torch.zeros(length, dtype=torch.long)
        index[:count] = spatial[:count]
        mask = torch.zeros(length, dtype=torch.bool)
        mask[:count] = True
        scale = torch.where(mask, scale_id, 0)
        parts.append((padded, index, scale, mask))
    if original_resolution:
        patches, spatial = _patches_of(images, patch_size, grid_size)
        length = patches.shape[1]
        scale = torch.full((length,), len(longer_side_lengths), dtype=torch.long)
        parts.append((patches, spatial, scale, torch.ones(length, dtype=torch.bool)))
    patches = torch.cat([part[0] for part in parts], dim=1)
    spatial, scale, mask = (torch.cat([part[i] for part in parts]).to(device) for i in (1, 2, 3))
    return MultiScaleTokens(patches, spatial, scale, mask)


# --------------------------------------------------------------------------- network


class StdConv2d(nn.Conv2d):
    """Convolution with weight standardisation and TF "SAME" zero padding (bias-free here).

    The kernel is used as ``(w - mean) / (std + 1e-5)``, mean and unbiased std over
    ``(in, kh, kw)`` of each output channel, as the BiT-style stem MUSIQ was trained with.
    """

    def standardised_weight(self) -> torch.Tensor:
        w = self.weight
        w = w - w.mean(dim=(1, 2, 3), keepdim=True)
        return w / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = self.kernel_size[0], self.stride[0]
        x = pad_same(x, kernel, stride)
        return F.conv2d(x, self.standardised_weight(), self.bias, self.stride)


class Bottleneck(nn.Module):
    """ResNet-v1 bottleneck with weight-standardised convs and GroupNorm(32, eps 1e-4):
    ``(N, cin, h, w) -> (N, cout, h, w)``, width = ``cin``, projection shortcut when
    ``cin != cout``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = StdConv2d(cin, cin, 1, bias=False)
        self.gn1 = nn.GroupNorm(32, cin, eps=1e-4)
        self.conv2 = StdConv2d(cin, cin, 3, bias=False)
        self.gn2 = nn.GroupNorm(32, cin, eps=1e-4)
        self.conv3 = StdConv2d(cin, cout, 1, bias=False)
        self.gn3 = nn.GroupNorm(32, cout, eps=1e-4)
        self.project = cin != cout
        if self.project:
            self.conv_proj = StdConv2d(cin, cout, 1, bias=False)
            self.gn_proj = nn.GroupNorm(32, cout, eps=1e-4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.gn_proj(self.conv_proj(x)) if self.project else x
        y = F.relu(self.gn1(self.conv1(x)))
        y = F.relu(self.gn2(self.conv2(y)))
        return F.relu(self.gn3(self.conv3(y)) + shortcut)


class Attention(nn.Module):
    """Multi-head self-attention with biased ``query``/``key``/``value``/``out`` projections.

    A logit is set to :data:`MASKED_LOGIT` where its query or its key is masked (not -inf:
    padding queries would otherwise give NaN rows, which would then leak through ``0 * NaN``).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.scale = (dim // heads) ** -0.5

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """``x (N, L, D)``, ``keep (L, L)`` or ``(N, L, L)`` bool (None: attend everywhere)."""
        n, length, dim = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(n, length, self.heads, dim // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        logits = (q @ k.transpose(-2, -1)) * self.scale
        if keep is not None:
            keep = keep if keep.dim() == 2 else keep[:, None]
            logits = logits.masked_fill(~keep, MASKED_LOGIT)
        y = logits.softmax(dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(n, length, dim))


class Mlp(nn.Module):
    """``fc1`` -> exact (erf) GELU -> ``fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class EncoderBlock(nn.Module):
    """Pre-LayerNorm (eps 1e-6) transformer block: attention and MLP, each residual."""

    def __init__(self, dim: int, mlp_dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attention = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attention(self.norm1(x), keep)
        return x + self.mlp(self.norm2(x))


class HashPositionEmbedding(nn.Module):
    """``position_emb (1, grid^2, D)``, looked up by hashed spatial position."""

    def __init__(self, grid_size: int, dim: int) -> None:
        super().__init__()
        self.position_emb = nn.Parameter(torch.randn(1, grid_size * grid_size, dim) * 0.02)


class ScaleEmbedding(nn.Module):
    """``scale_emb (num_scales, D)``, looked up by scale id."""

    def __init__(self, num_scales: int, dim: int) -> None:
        super().__init__()
        self.scale_emb = nn.Parameter(torch.randn(num_scales, dim) * 0.02)


class TransformerEncoder(nn.Module):
    """Embeddings, CLS token, ``transformer.encoderblock_{i}`` and ``encoder_norm``."""

    def __init__(
        self, dim: int, mlp_dim: int, heads: int, layers: int, num_scales: int, grid_size: int
    ) -> None:
        super().__init__()
        self.posembed_input = HashPositionEmbedding(grid_size, dim)
        self.scaleembed_input = ScaleEmbedding(num_scales, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.transformer = nn.ModuleDict(
            {f"encoderblock_{i}": EncoderBlock(dim, mlp_dim, heads) for i in range(layers)}
        )
        self.encoder_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(
        self, x: torch.Tensor, spatial: torch.Tensor, scale: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``x (N, L, D)``, ``spatial``/``scale``/``mask`` ``(L,)`` or ``(N, L)`` ->
        ``(N, 1 + L, D)`` normalised tokens, CLS first."""
        x = (
            x
            + self.posembed_input.position_emb[0][spatial]
            + self.scaleembed_input.scale_emb[scale]
        )
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        mask = torch.cat([mask.new_ones(*mask.shape[:-1], 1), mask], dim=-1)
        keep = None
        if not bool(mask.all()):  # padding present: a logit survives if query and key are real
            keep = mask[..., :, None] & mask[..., None, :]
        for block in self.transformer.values():
            x = block(x, keep)
        return self.encoder_norm(x)


class MUSIQ(nn.Module):
    """MUSIQ with pyiqa's parameter names (strict loading of its checkpoints).

    Args:
        patch_size: patch side, 32.
        hidden_size: token width, 384.
        mlp_dim: MLP width, 1152.
        num_heads: attention heads, 6.
        num_layers: transformer blocks, 14.
        grid_size: hashed spatial grid side, 10.
        longer_side_lengths: the resized scales, (224, 384); the original resolution is the
            last scale.
        num_classes: head outputs; 1 (a MOS, SPAQ/KonIQ checkpoints) is what this module scores.

    ``forward(images (N, 3, H, W) in [0, 1]) -> (N,)`` MOS (SPAQ: 0-100).
    """

    def __init__(
        self,
        *,
        patch_size: int = 32,
        hidden_size: int = 384,
        mlp_dim: int = 1152,
        num_heads: int = 6,
        num_layers: int = 14,
        grid_size: int = 10,
        longer_side_lengths: tuple[int, ...] = (224, 384),
        num_classes: int = 1,
    ) -> None:
        super().__init__()
        if patch_size % 4:
            raise ValueError(f"patch_size must be a multiple of 4, got {patch_size}")
        self.patch_size = patch_size
        self.grid_size = grid_size
        self.longer_side_lengths = tuple(sorted(longer_side_lengths))
        stem = 64
        self.conv_root = StdConv2d(3, stem, 7, stride=2, bias=False)
        self.gn_root = nn.GroupNorm(32, stem, eps=1e-6)
        self.block1 = Bottleneck(stem, stem * 4)
        self.embedding = nn.Linear(stem * 4 * (patch_size // 4) ** 2, hidden_size)
        self.transformer_encoder = TransformerEncoder(
            hidden_size,
            mlp_dim,
            num_heads,
            num_layers,
            len(self.longer_side_lengths) + 1,
            grid_size,
        )
        self.head = nn.Linear(hidden_size, num_classes)

    def tokens(self, images: torch.Tensor) -> MultiScaleTokens:
        """The multi-scale sequence of ``(N, 3, H, W)`` images in [0, 1]."""
        return multiscale_tokens(
            (images - 0.5) * 2,
            patch_size=self.patch_size,
            grid_size=self.grid_size,
            longer_side_lengths=self.longer_side_lengths,
        )

    def embed_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, L, 3, p, p)`` -> ``(N, L, D)`` through the ResNet stem and the projection."""
        n, length = patches.shape[:2]
        x = self.conv_root(patches.reshape(n * length, *patches.shape[2:]))
        x = F.relu(self.gn_root(x))
        x = F.max_pool2d(pad_same(x, 3, 2), 3, 2)  # zero padding is harmless after the ReLU
        x = self.block1(x)
        x = x.permute(0, 2, 3, 1).reshape(n, length, -1)  # channels last, as the TF original
        return self.embedding(x)

    def forward_tokens(self, tokens: MultiScaleTokens) -> torch.Tensor:
        """Scores of a token sequence: ``(N, num_classes)`` head outputs."""
        x = self.embed_patches(tokens.patches)
        x = self.transformer_encoder(x, tokens.spatial, tokens.scale, tokens.mask)
        return self.head(x[:, 0])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` in [0, 1] -> ``(N,)`` MOS (one-output head) or ``(N, C)``."""
        out = self.forward_tokens(self.tokens(images))
        return out[:, 0] if out.shape[1] == 1 else out


# --------------------------------------------------------------------------- weights


def check_musiq_state_dict(model: nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    """Raise a ``ValueError`` naming the first key of ``state`` that does not fit ``model``:
    missing from the checkpoint, of another shape, or unexpected (in the model's key order,
    then the checkpoint's)."""
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in state:
            problem = "missing from the checkpoint"
        elif tuple(state[key].shape) != tuple(value.shape):
            problem = (
                f"shape {list(state[key].shape)} in the checkpoint, MUSIQ needs {list(value.shape)}"
            )
        else:
            continue
        break
    else:
        extra = [key for key in state if key not in expected]
        if not extra:
            return
        key, problem = extra[0], "not a MUSIQ parameter"
    raise ValueError(
        f"{origin} does not fit MUSIQ ({len(state)} tensors, MUSIQ has {len(expected)}): first "
        f"mismatching key {key!r}: {problem}. Expected pyiqa's {MUSIQ_SPAQ_FILE}"
    )


def resolve_musiq_weights(
    weights: str | os.PathLike | None = None, argument: str = "weights"
) -> WeightsSource:
    """Where the MUSIQ-SPAQ weights are (no loading, no download).

    Order: ``weights`` (``"random"``, a file or a directory holding it), the Hugging Face cache
    (``chaofengc/IQA-PyTorch-Weights``), pyiqa's cache ``$TORCH_HOME/hub/pyiqa/`` and VBench's
    ``$VBENCH_CACHE_DIR/pyiqa_model/`` (default ``~/.cache/vbench``).

    Raises:
        WeightsNotFoundError: nowhere; the message names the file, where it is published, the
            ``hf download`` command and the argument.
    """
    vbench_cache = Path(os.environ.get("VBENCH_CACHE_DIR", "~/.cache/vbench")).expanduser()
    return resolve_weights(
        f"imaging-quality model MUSIQ-SPAQ ({MUSIQ_SPAQ_FILE}, published in the Hugging Face "
        f"repository {MUSIQ_SPAQ_HUB_ID} and at {MUSIQ_SPAQ_RELEASE_URL})",
        weights,
        hub_id=MUSIQ_SPAQ_HUB_ID,
        hub_filenames=(MUSIQ_SPAQ_FILE,),
        cache_files=[
            Path(torch.hub.get_dir()) / "pyiqa" / MUSIQ_SPAQ_FILE,
            vbench_cache / "pyiqa_model" / MUSIQ_SPAQ_FILE,
        ],
        download_hint=f"hf download {MUSIQ_SPAQ_HUB_ID} {MUSIQ_SPAQ_FILE}",
        original=MUSIQ_SPAQ_FILE,
        argument=argument,
    )


_CACHE: dict[tuple[str, str], MUSIQ] = {}
_LOCK = threading.Lock()


def load_musiq(
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    *,
    argument: str = "weights",
) -> MUSIQ:
    """MUSIQ with the SPAQ weights, in eval mode, built once per process, weights and device.

    Args:
        weights: ``None`` (caches, see :func:`resolve_musiq_weights`), ``"random"`` (seed 0;
            tests and benchmarks only) or a local checkpoint file / directory.
        device: where the model lives.
        argument: the caller's name for ``weights`` (for the missing-weights message).

    Raises:
        WeightsNotFoundError: no weights on this machine.
        ValueError: a checkpoint whose keys or shapes are not MUSIQ's (first mismatch named), or
            that needs more than tensors to unpickle.
    """
    source = resolve_musiq_weights(weights, argument)
    key = (str(source), str(torch.device(device)))
    with _LOCK:
        if key not in _CACHE:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = MUSIQ()
            if source.path is not None:
                state = load_state_dict(source.path)
                check_musiq_state_dict(model, state, str(source.path))
                model.load_state_dict(state, strict=True)
            _CACHE[key] = model.eval().requires_grad_(False).to(device)
        return _CACHE[key]
