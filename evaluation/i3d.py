"""I3D (Inception-v1 inflated to 3-D; Carreira & Zisserman 2017) with Kinetics-400 logits, for FVD.

The network is written so that the published PyTorch checkpoint ``i3d_pretrained_400.pt`` loads
strictly with ``torch.load(weights_only=True)``: a plain ``OrderedDict`` of float tensors that
VideoGPT's ``convert_tf_pretrained.py`` (also in TATS, ``tats/fvd/``) made from the TF-Hub module
``deepmind/i3d-kinetics-400/1``, the network of the original FVD, renaming its variables
(``conv_3d/w`` -> ``conv3d.weight``, ``batch_norm/beta`` -> ``bn.bias``, moving mean/variance ->
``running_mean``/``running_var``) and permuting conv kernels to ``[out, in, t, h, w]``. TATS and
content-debiased FVD (PyPI ``cd-fvd``) load the same file. Its 287 tensors, named as this module names them:

* ``<unit>.conv3d.weight`` ``[out, in, kt, kh, kw]`` (no bias) and ``<unit>.bn.{weight, bias,
  running_mean, running_var}`` ``[out]`` for the 57 conv + batch-norm units: the stem
  ``Conv3d_1a_7x7``, ``Conv3d_2b_1x1``, ``Conv3d_2c_3x3`` and six branches ``b0, b1a, b1b, b2a,
  b2b, b3b`` in each of the nine ``Mixed_*`` blocks. TF's batch norm has no scale: the converter
  wrote ``bn.weight`` as ones. There is no ``num_batches_tracked`` (this module has none either).
* ``logits.conv3d.weight`` ``[400, 1024, 1, 1, 1]`` and ``logits.conv3d.bias`` ``[400]``.

12,697,264 parameters (7,280 of them the all-ones batch-norm scales) and 14,560 running
statistics: 12,711,824 float32 values, 50,847,296 bytes of tensor data.

Forward, as TF-Hub's graph up to ``RGB/inception_i3d/Mean`` and the PyTorch port
(``InceptionI3d.forward``): clips ``(B, 3, T, 224, 224)`` in [-1, 1] -> TF "SAME" padded convs and
max pools -> ``AvgPool3d((2, 7, 7), stride 1)`` (VALID) -> 1x1x1 logits conv -> mean over the
remaining time steps -> ``(B, 400)`` pre-softmax logits. Dropout (identity at inference) is omitted.

Batch-norm epsilon: the PyTorch port used by VideoGPT, TATS and cd-fvd has ``eps=1e-5``
(:data:`BN_EPS_PYTORCH_PORT`, the default here, so features equal cd-fvd's); TF's Sonnet batch norm
in the original graph has ``1e-3`` (:data:`BN_EPS_TF`). Same weights, slightly different features.

Weights are looked up as a local file (``weights=``), then in the Hugging Face cache
(:data:`I3D_HUB_ID` / :data:`I3D_FILENAME`), and are never downloaded. StyleGAN-V's
``i3d_torchscript.pt`` is a TorchScript archive: :func:`evaluation.checkpoints.load_state_dict`
refuses it (no TorchScript code or pickled object is ever run). Its module names are not known
here, so this module does not read it; use the plain state dict above.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.checkpoints import WeightsSource, load_state_dict, resolve_weights

__all__ = [
    "BN_EPS_PYTORCH_PORT",
    "BN_EPS_TF",
    "I3D_FILENAME",
    "I3D_HUB_ID",
    "I3D_INPUT_SIZE",
    "I3D_MIN_FRAMES",
    "I3D_NUM_CLASSES",
    "I3D_ORIGINAL_URL",
    "InceptionI3d",
    "load_i3d",
    "load_i3d_state_dict",
    "resolve_i3d_weights",
]

I3D_HUB_ID = "Xiaodong/FVD_I3D"
I3D_FILENAME = "i3d_pretrained_400.pt"
# Where TATS publishes the file and cd-fvd downloads it from when no ckpt_path is given.
I3D_ORIGINAL_URL = "https://github.com/songweige/TATS/raw/main/tats/fvd/i3d_pretrained_400.pt"
I3D_NUM_CLASSES = 400
I3D_INPUT_SIZE = 224
# The time axis is divided by 8 (strides 2, 2, 2) before the (2, 7, 7) average pool: fewer than 9
# frames leave it a single step, too short for the pool (the reference fails there too).
I3D_MIN_FRAMES = 9
BN_EPS_PYTORCH_PORT = 1e-5
BN_EPS_TF = 1e-3

# (name, input channels, (b0, b1a, b1b, b2a, b2b, b3b) output channels), in forward order.
MIXED_BLOCKS: tuple[tuple[str, int, tuple[int, int, int, int, int, int]], ...] = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)
# A 3-D max pool before these blocks: kernel, stride (TF "SAME").
_POOL_BEFORE = {
    "Mixed_3b": ((1, 3, 3), (1, 2, 2)),  # MaxPool3d_3a_3x3
    "Mixed_4b": ((3, 3, 3), (2, 2, 2)),  # MaxPool3d_4a_3x3
    "Mixed_5b": ((2, 2, 2), (2, 2, 2)),  # MaxPool3d_5a_2x2
}

Triple = tuple[int, int, int]


def _same_padding(size: tuple[int, ...], kernel: Triple, stride: Triple) -> list[int]:
    """TF "SAME" padding of a ``(T, H, W)`` input as ``F.pad`` takes it (last dim first).

    Total padding per dim is ``max(k - s, 0)`` when ``s`` divides the size, else
    ``max(k - size % s, 0)``; the smaller half goes in front, as in TF.
    """
    pads: list[int] = []
    for n, k, s in zip(reversed(size), reversed(kernel), reversed(stride), strict=True):
        total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
        pads += [total // 2, total - total // 2]
    return pads


def _max_pool_same(x: torch.Tensor, kernel: Triple, stride: Triple) -> torch.Tensor:
    """3-D max pool with TF "SAME" padding. Zero padding equals TF's (which ignores padded cells)
    because every pooled tensor here follows a ReLU, so all values are >= 0."""
    x = F.pad(x, _same_padding(tuple(x.shape[2:]), kernel, stride))
    return F.max_pool3d(x, kernel, stride)


class FrozenBatchNorm3d(nn.Module):
    """Inference batch norm with the checkpoint's four tensors and no ``num_batches_tracked``.

    ``y = (x - running_mean) / sqrt(running_var + eps) * weight + bias`` per channel.
    """

    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, eps={self.eps}"


class Unit3D(nn.Module):
    """Conv3d (no bias, TF "SAME" padding) + batch norm + ReLU; or, for the logits, a biased conv
    alone."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: Triple = (1, 1, 1),
        stride: Triple = (1, 1, 1),
        *,
        bn_eps: float = BN_EPS_PYTORCH_PORT,
        logits: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, bias=logits)
        self.bn = None if logits else FrozenBatchNorm3d(out_channels, bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel != (1, 1, 1) or self.stride != (1, 1, 1):
            x = F.pad(x, _same_padding(tuple(x.shape[2:]), self.kernel, self.stride))
        x = self.conv3d(x)
        if self.bn is None:
            return x
        return F.relu(self.bn(x))


class InceptionBlock(nn.Module):
    """Four branches concatenated on channels: 1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; 3x3x3 max pool
    (stride 1) -> 1x1."""

    def __init__(
        self, in_channels: int, widths: tuple[int, int, int, int, int, int], bn_eps: float
    ) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = widths
        self.b0 = Unit3D(in_channels, c0, bn_eps=bn_eps)
        self.b1a = Unit3D(in_channels, c1a, bn_eps=bn_eps)
        self.b1b = Unit3D(c1a, c1b, (3, 3, 3), bn_eps=bn_eps)
        self.b2a = Unit3D(in_channels, c2a, bn_eps=bn_eps)
        self.b2b = Unit3D(c2a, c2b, (3, 3, 3), bn_eps=bn_eps)
        self.b3b = Unit3D(in_channels, c3b, bn_eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = _max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(pooled)], dim=1
        )


class InceptionI3d(nn.Module):
    """I3D RGB network up to the Kinetics logits.

    Args:
        num_classes: logits (400 for the Kinetics-400 checkpoint).
        bn_eps: batch-norm epsilon (:data:`BN_EPS_PYTORCH_PORT` or :data:`BN_EPS_TF`).

    ``forward(x)``: ``x`` ``(B, 3, T, H, W)`` float in [-1, 1] with ``T >= 9`` and ``H, W >= 193``
    (224 for FVD) -> ``(B, num_classes)`` logits averaged over the remaining time steps (and, for
    frames larger than 224, over the spatial positions the 7x7 pool leaves).
    """

    num_features = I3D_NUM_CLASSES  # torchmetrics' Fréchet machinery reads this

    def __init__(
        self, num_classes: int = I3D_NUM_CLASSES, bn_eps: float = BN_EPS_PYTORCH_PORT
    ) -> None:
        super().__init__()
        self.num_features = num_classes
        self.bn_eps = bn_eps
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2), bn_eps=bn_eps)
        self.Conv3d_2b_1x1 = Unit3D(64, 64, bn_eps=bn_eps)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3), bn_eps=bn_eps)
        for name, in_channels, widths in MIXED_BLOCKS:
            self.add_module(name, InceptionBlock(in_channels, widths, bn_eps))
        self.logits = Unit3D(1024, num_classes, logits=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` -> Mixed_5c's output ``(B, 1024, ceil(T/8), ceil(H/32),
        ceil(W/32))``."""
        x = self.Conv3d_1a_7x7(x)
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_2a_3x3
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        for name, _, _ in MIXED_BLOCKS:
            if name in _POOL_BEFORE:
                x = _max_pool_same(x, *_POOL_BEFORE[name])
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"I3D takes clips (B, 3, T, H, W), got shape {tuple(x.shape)}")
        t, h, w = x.shape[2:]
        if t < I3D_MIN_FRAMES or min(h, w) < 193:
            raise ValueError(
                f"I3D needs at least {I3D_MIN_FRAMES} frames of at least 193x193 pixels "
                f"({I3D_INPUT_SIZE}x{I3D_INPUT_SIZE} for FVD), got T={t}, {h}x{w}"
            )
        x = F.avg_pool3d(self.forward_features(x), (2, 7, 7), stride=1)
        # (B, classes, T', H', W'): the reference squeezes H' = W' = 1 and averages over T'.
        return self.logits(x).mean(dim=(2, 3, 4))


def resolve_i3d_weights(
    weights: str | os.PathLike | None = None, argument: str = "weights"
) -> WeightsSource:
    """Where the I3D Kinetics-400 weights are (no loading, no download).

    Args:
        weights: ``None`` (the Hugging Face cache), ``"random"``, or a local file or directory.
        argument: the argument or config key named in the error message.

    Raises:
        WeightsNotFoundError: not given and not in the cache; the message says how to fetch them.
    """
    return resolve_weights(
        f"the FVD network I3D Kinetics-400 ({I3D_FILENAME}, converted from TF-Hub "
        f"deepmind/i3d-kinetics-400/1)",
        weights,
        hub_id=I3D_HUB_ID,
        hub_filenames=(I3D_FILENAME,),
        download_hint=f"hf download {I3D_HUB_ID} {I3D_FILENAME}",
        original=f"{I3D_FILENAME} ({I3D_ORIGINAL_URL})",
        argument=argument,
    )


def load_i3d_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model`` strictly, naming the first key that does not fit.

    Raises:
        ValueError: a missing or unexpected key, or a shape mismatch (the first, in the model's
            key order, then the file's).
    """
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise ValueError(
                f"{source} is not an I3D Kinetics-400 checkpoint: key {key!r} is missing "
                f"({len(state)} keys in the file, {len(expected)} expected)"
            )
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ValueError(
                f"{source}: key {key!r} has shape {tuple(state[key].shape)}, expected "
                f"{tuple(tensor.shape)}"
            )
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        raise ValueError(
            f"{source} is not an I3D Kinetics-400 checkpoint: unexpected key {unexpected[0]!r} "
            f"({len(unexpected)} unexpected)"
        )
    model.load_state_dict(dict(state), strict=True)


_CACHE: dict[tuple[str, str, float], InceptionI3d] = {}
_LOCK = threading.Lock()


def load_i3d(
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    *,
    bn_eps: float = BN_EPS_PYTORCH_PORT,
    argument: str = "weights",
) -> InceptionI3d:
    """The I3D with local weights, in eval mode, built once per process, weights, device and eps.

    Args:
        weights: ``None`` (Hugging Face cache), ``"random"`` (seed 0; tests and benchmarks) or a
            local checkpoint (``.pt`` state dict, or a ``.safetensors`` conversion of it).
        device: where the model lives.
        bn_eps: batch-norm epsilon (see the module docstring).
        argument: the argument or config key named in a missing-weights error.

    Raises:
        WeightsNotFoundError: no weights (see :func:`resolve_i3d_weights`).
        ValueError: the file is not this checkpoint (the first mismatching key is named), or a
            TorchScript archive or pickle that needs more than tensors.
    """
    source = resolve_i3d_weights(weights, argument)
    key = (str(source), str(torch.device(device)), float(bn_eps))
    with _LOCK:
        if key not in _CACHE:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = InceptionI3d(bn_eps=bn_eps)
            if source.path is not None:
                load_i3d_state_dict(model, load_state_dict(source.path), str(source.path))
            _CACHE[key] = model.eval().requires_grad_(False).to(device)
        return _CACHE[key]
