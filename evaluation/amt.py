"""AMT-S video-frame interpolation, rebuilt so that the published ``amt-s.pth`` loads strictly.

AMT ("All-Pairs Multi-Field Transforms for Efficient Frame Interpolation", Li et al., CVPR 2023)
is the interpolator behind VBench's ``motion_smoothness``. No package ships it, so the small
variant is written here from its description (VBench's ``third_party/amt``, config
``AMT-S.yaml``: ``corr_radius=3, corr_lvls=4, num_flows=3``, channels 20/32/44/56, skip 20):

* a RAFT-style feature encoder (84 channels at 1/8, instance norm) and an all-pairs correlation
  volume between the two frames, looked up in both directions at 4 pooled levels;
* an IFRNet-style context pyramid (1/2 .. 1/16) and coarse-to-fine decoders that predict the
  flows from the middle frame to both inputs and a middle-frame feature, refined at 1/8, 1/4 and
  1/2 by update blocks fed with correlation looked up along the current flows;
* 3 flow pairs at full resolution, each warping both frames and blending them with a mask plus a
  residual, combined by their mean plus a small conv net.

:class:`AMTS` has the 213 tensors (2,990,543 parameters) of ``amt-s.pth`` under the same names.

Weights (:func:`resolve_amt_weights`, :func:`load_amt`): ``weights=`` (a file or a directory
holding ``amt-s.pth``), then the Hugging Face cache (``hf download lalala125/AMT amt-s.pth``),
then VBench's own cache ``$VBENCH_CACHE_DIR/amt_model/amt-s.pth`` (default ``~/.cache/vbench``).
Nothing is downloaded. The file is a training checkpoint (the state dict under ``state_dict``),
read with ``torch.load(weights_only=True)``. VBench loads it with ``weights_only=False``; in case
the pickle holds objects besides tensors, :func:`load_amt_state_dict` maps every such global to
an inert placeholder that is never called, so no code from the file runs, and keeps the tensors.
``python -m evaluation.amt convert amt-s.pth amt-s.safetensors`` writes them as a plain file.
The weights are licensed CC BY-NC-SA 4.0 (the Hugging Face repository's licence).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import secrets
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.checkpoints import WeightsSource, load_state_dict, resolve_weights

__all__ = [
    "AMTS",
    "AMT_S_FILENAME",
    "AMT_S_HUB_ID",
    "AMT_S_NUM_PARAMETERS",
    "AMT_S_NUM_TENSORS",
    "AMT_S_SHA256",
    "check_amt_checkpoint",
    "load_amt",
    "load_amt_state_dict",
    "resolve_amt_weights",
    "vbench_scale",
]

AMT_S_HUB_ID = "lalala125/AMT"
AMT_S_FILENAME = "amt-s.pth"
AMT_S_SHA256 = "07e7e03405c213fe4405678db9b42d05671e48c56faf6a441b99bb0047d3cf77"
AMT_S_NUM_TENSORS = 213
AMT_S_NUM_PARAMETERS = 2_990_543
AMT_S_URL = f"https://huggingface.co/{AMT_S_HUB_ID}/resolve/main/{AMT_S_FILENAME}"

# The coarsest correlation level is the 1/8 feature map pooled 3 times; its sampling divides by
# (side - 1), so every level needs 2 pixels a side: 8 * 2**3 * 2 = 128 input pixels.
MIN_SIDE = 128


def resize(x: torch.Tensor, scale_factor: float) -> torch.Tensor:
    """Bilinear resize by a factor, ``align_corners=False`` (AMT's only resampling mode)."""
    return F.interpolate(x, scale_factor=scale_factor, mode="bilinear", align_corners=False)


def coords_grid(batch: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """Pixel coordinates ``(batch, 2, height, width)``: channel 0 is x, channel 1 is y."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij"
    )
    return torch.stack([xs, ys]).float()[None].expand(batch, -1, -1, -1)


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at ``pixel + flow`` (bilinear, border padding).

    Args:
        image: ``(N, C, H, W)``.
        flow: ``(N, 2, H, W)`` in pixels, x then y.

    Returns:
        ``(N, C, H, W)``.
    """
    n, _, height, width = flow.shape
    # A linspace grid plus the flow in normalised units, in this order: the rounding of the
    # normalised coordinates then matches AMT's own warp bit for bit.
    xs = torch.linspace(-1.0, 1.0, width, device=flow.device).view(1, 1, 1, width)
    ys = torch.linspace(-1.0, 1.0, height, device=flow.device).view(1, 1, height, 1)
    base = torch.cat([xs.expand(n, -1, height, -1), ys.expand(n, -1, -1, width)], 1).to(image)
    scaled = torch.cat(
        [flow[:, 0:1] / ((width - 1.0) / 2.0), flow[:, 1:2] / ((height - 1.0) / 2.0)], 1
    )
    grid = (base + scaled).permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _conv_prelu(
    cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1
) -> nn.Sequential:
    """Conv2d (with bias) + PReLU per channel; keys ``0.weight``, ``0.bias``, ``1.weight``."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.PReLU(cout))


# ---------------------------------------------------------------------------------------------
# Feature encoder and correlation (RAFT's small encoder, AMT's bidirectional lookup)


class Bottleneck(nn.Module):
    """RAFT's bottleneck residual block with instance norm (no affine parameters).

    ``cin -> cout`` through ``cout // 4`` channels; ``stride`` on the 3x3 conv and on a 1x1
    projection of the shortcut.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        mid = cout // 4
        self.conv1 = nn.Conv2d(cin, mid, 1)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1)
        self.conv3 = nn.Conv2d(mid, cout, 1)
        self.norm1 = nn.InstanceNorm2d(mid)
        self.norm2 = nn.InstanceNorm2d(mid)
        self.norm3 = nn.InstanceNorm2d(cout)
        self.downsample = None
        if stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride), nn.InstanceNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        y = F.relu(self.norm3(self.conv3(y)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + y)


class FeatureEncoder(nn.Module):
    """RAFT's small encoder: ``(N, 3, H, W) -> (N, 84, H/8, W/8)`` features for correlation."""

    def __init__(self, out_channels: int = 84) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 7, stride=2, padding=3)
        self.norm1 = nn.InstanceNorm2d(32)
        self.layer1 = nn.Sequential(Bottleneck(32, 32), Bottleneck(32, 32))
        self.layer2 = nn.Sequential(Bottleneck(32, 64, stride=2), Bottleneck(64, 64))
        self.layer3 = nn.Sequential(Bottleneck(64, 96, stride=2), Bottleneck(96, 96))
        self.conv2 = nn.Conv2d(96, out_channels, 1)
        # RAFT's initialisation (only random weights see it).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm1(self.conv1(x)))
        return self.conv2(self.layer3(self.layer2(self.layer1(x))))


class BidirCorrelation:
    """All-pairs correlation of two feature maps, looked up in both directions.

    ``corr[p, q] = <f0[p], f1[q]> / sqrt(C)`` for every pixel ``p`` of frame 0 and ``q`` of
    frame 1. The forward volume is pooled over ``q`` (2x2 average, ``levels`` times) and the
    backward one over ``p``. A lookup samples a ``(2r+1)^2`` window around a point at each level.

    Args:
        fmap0: ``(N, C, h, w)``.
        fmap1: ``(N, C, h, w)``.
    """

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int, radius: int):
        n, c, h, w = fmap0.shape
        self.levels, self.radius = levels, radius
        corr = torch.matmul(fmap0.view(n, c, h * w).transpose(1, 2), fmap1.view(n, c, h * w))
        corr = corr / torch.sqrt(torch.tensor(c).float())  # (N, h*w of frame 0, h*w of frame 1)
        forward = corr.reshape(n * h * w, 1, h, w)
        backward = corr.transpose(1, 2).reshape(n * h * w, 1, h, w)
        self.pyramid = [forward]
        self.pyramid_t = [backward]
        for _ in range(levels - 1):
            forward = F.avg_pool2d(forward, 2, stride=2)
            backward = F.avg_pool2d(backward, 2, stride=2)
            self.pyramid.append(forward)
            self.pyramid_t.append(backward)
        r = radius
        d = torch.linspace(-r, r, 2 * r + 1, device=fmap0.device)
        # Window offsets (first, second) = (d[i], d[j]) added to (x, y): the first window axis
        # moves along x. AMT's weights were trained with this (transposed) ordering.
        first, second = torch.meshgrid(d, d, indexing="ij")
        self.offsets = torch.stack([first, second], dim=-1).view(1, 2 * r + 1, 2 * r + 1, 2)

    @staticmethod
    def _sample(volume: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Sample ``volume`` ``(M, 1, h, w)`` at pixel coordinates ``coords`` ``(M, k, k, 2)``
        (x, y) with zeros outside: ``(M, 1, k, k)``."""
        h, w = volume.shape[-2:]
        x, y = coords.split([1, 1], dim=-1)
        grid = torch.cat([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)
        return F.grid_sample(volume, grid, align_corners=True)

    def __call__(
        self, coords0: torch.Tensor, coords1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Correlation around ``coords0`` in frame 1's volume and ``coords1`` in frame 0's.

        Args:
            coords0: ``(N, 2, h, w)`` points of frame 1 (x, y), one per pixel of frame 0.
            coords1: ``(N, 2, h, w)`` points of frame 0, one per pixel of frame 1.

        Returns:
            Two ``(N, levels * (2r+1)^2, h, w)`` tensors (196 channels for AMT-S).
        """
        n, _, h, w = coords0.shape
        centre0 = coords0.permute(0, 2, 3, 1).reshape(n * h * w, 1, 1, 2)
        centre1 = coords1.permute(0, 2, 3, 1).reshape(n * h * w, 1, 1, 2)
        out0, out1 = [], []
        for level in range(self.levels):
            scale = 2**level
            s0 = self._sample(self.pyramid[level], centre0 / scale + self.offsets)
            s1 = self._sample(self.pyramid_t[level], centre1 / scale + self.offsets)
            out0.append(s0.view(n, h, w, -1))
            out1.append(s1.view(n, h, w, -1))
        return (
            torch.cat(out0, dim=-1).permute(0, 3, 1, 2).contiguous().float(),
            torch.cat(out1, dim=-1).permute(0, 3, 1, 2).contiguous().float(),
        )


# ---------------------------------------------------------------------------------------------
# Context pyramid and decoders (IFRNet's blocks)


class ResBlock(nn.Module):
    """IFRNet's residual block: 5 convs on ``channels``, of which the last ``side`` channels get
    two extra convs of their own between them; ``prelu(x + out)``."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.side = side
        self.conv1 = _conv_prelu(channels, channels)
        self.conv2 = _conv_prelu(side, side)
        self.conv3 = _conv_prelu(channels, channels)
        self.conv4 = _conv_prelu(side, side)
        self.conv5 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.prelu = nn.PReLU(channels)

    def _side(self, x: torch.Tensor, conv: nn.Module) -> torch.Tensor:
        return torch.cat([x[:, : -self.side], conv(x[:, -self.side :])], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._side(self.conv1(x), self.conv2)
        out = self._side(self.conv3(out), self.conv4)
        return self.prelu(x + self.conv5(out))


class ContextPyramid(nn.Module):
    """Features of one frame at 1/2, 1/4, 1/8 and 1/16: ``channels`` = (20, 32, 44, 56)."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        self.depth = len(channels)
        previous = 3
        for index, ch in enumerate(channels, 1):
            level = nn.Sequential(_conv_prelu(previous, ch, 3, 2, 1), _conv_prelu(ch, ch))
            self.add_module(f"pyramid{index}", level)
            previous = ch

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for index in range(1, self.depth + 1):
            x = getattr(self, f"pyramid{index}")(x)
            features.append(x)
        return features


def _decoder_block(cin: int, cout: int, side: int) -> nn.Sequential:
    """conv+PReLU ``cin -> cout`` and a ResBlock: the decoders' common trunk (each appends its
    own 2x transposed conv as index 2)."""
    return nn.Sequential(_conv_prelu(cin, cout), ResBlock(cout, side))


class InitDecoder(nn.Module):
    """Coarsest decoder: the two 1/16 features and the time ``t`` to the flows from the middle
    frame to both frames and a middle feature, at 1/8: ``(N, 2), (N, 2), (N, out)``."""

    def __init__(self, cin: int, cout: int, side: int) -> None:
        super().__init__()
        self.convblock = _decoder_block(cin * 2 + 1, cin * 2, side)
        self.convblock.append(nn.ConvTranspose2d(cin * 2, cout + 4, 4, 2, 1))

    def forward(
        self, f0: torch.Tensor, f1: torch.Tensor, embt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, _, h, w = f0.shape
        out = self.convblock(torch.cat([f0, f1, embt.expand(n, 1, h, w)], 1))
        return out[:, 0:2], out[:, 2:4], out[:, 4:]


class IntermediateDecoder(nn.Module):
    """One level finer: warp both frames' features to the middle frame with the current flows,
    decode with the middle feature, and add the residual flows to the flows upsampled 2x."""

    def __init__(self, cin: int, cout: int, side: int) -> None:
        super().__init__()
        self.convblock = _decoder_block(cin * 3 + 4, cin * 3, side)
        self.convblock.append(nn.ConvTranspose2d(cin * 3, cout + 4, 4, 2, 1))

    def forward(
        self,
        ft: torch.Tensor,
        f0: torch.Tensor,
        f1: torch.Tensor,
        flow0: torch.Tensor,
        flow1: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f0w, f1w = backward_warp(f0, flow0), backward_warp(f1, flow1)
        out = self.convblock(torch.cat([ft, f0w, f1w, flow0, flow1], 1))
        new0 = out[:, 0:2] + 2.0 * resize(flow0, 2.0)
        new1 = out[:, 2:4] + 2.0 * resize(flow1, 2.0)
        return new0, new1, out[:, 4:]


class MultiFlowDecoder(nn.Module):
    """Finest decoder (1/2 -> full resolution): ``num_flows`` flow pairs, their blending masks
    (sigmoid) and RGB residuals, ``(N, 2k), (N, 2k), (N, k), (N, 3k)``."""

    def __init__(self, cin: int, side: int, num_flows: int) -> None:
        super().__init__()
        self.num_flows = num_flows
        self.convblock = _decoder_block(cin * 3 + 4, cin * 3, side)
        self.convblock.append(nn.ConvTranspose2d(cin * 3, 8 * num_flows, 4, 2, 1))

    def forward(
        self,
        ft: torch.Tensor,
        f0: torch.Tensor,
        f1: torch.Tensor,
        flow0: torch.Tensor,
        flow1: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        k = self.num_flows
        f0w, f1w = backward_warp(f0, flow0), backward_warp(f1, flow1)
        out = self.convblock(torch.cat([ft, f0w, f1w, flow0, flow1], 1))
        delta0, delta1, mask, residual = torch.split(out, [2 * k, 2 * k, k, 3 * k], 1)
        new0 = delta0 + 2.0 * resize(flow0, 2.0).repeat(1, k, 1, 1)
        new1 = delta1 + 2.0 * resize(flow1, 2.0).repeat(1, k, 1, 1)
        return new0, new1, torch.sigmoid(mask), residual


class UpdateBlock(nn.Module):
    """AMT's small update block: from the correlation along the current flows, the flows and the
    middle feature, residuals for the feature and both flows.

    It always runs at 1/8, where the correlation is: with ``scale_factor`` k the feature (given
    at k times that resolution) is downsized by k first, and the residuals are upsized by k
    (the flow residual also multiplied by k, to stay in pixels of its resolution).
    """

    def __init__(
        self,
        cdim: int,
        hidden: int = 76,
        flow_dim: int = 20,
        corr_dim: int = 64,
        fc_dim: int = 68,
        corr_levels: int = 4,
        radius: int = 3,
        scale_factor: int | None = None,
    ) -> None:
        super().__init__()
        corr_planes = corr_levels * (2 * radius + 1) ** 2
        self.scale_factor = scale_factor
        self.convc1 = nn.Conv2d(2 * corr_planes, corr_dim, 1)
        self.convf1 = nn.Conv2d(4, flow_dim * 2, 7, padding=3)
        self.convf2 = nn.Conv2d(flow_dim * 2, flow_dim, 3, padding=1)
        self.conv = nn.Conv2d(corr_dim + flow_dim, fc_dim, 3, padding=1)

        def head(cout: int, cin: int = hidden) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, hidden, 3, padding=1),
                nn.LeakyReLU(0.1),
                nn.Conv2d(hidden, cout, 3, padding=1),
            )

        self.gru = head(hidden, fc_dim + 4 + cdim)
        self.feat_head = head(cdim)
        self.flow_head = head(4)

    def forward(
        self, feature: torch.Tensor, flow: torch.Tensor, corr: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.scale_factor is not None:
            feature = resize(feature, 1 / self.scale_factor)
        cor = F.leaky_relu(self.convc1(corr), 0.1)
        flo = F.leaky_relu(self.convf2(F.leaky_relu(self.convf1(flow), 0.1)), 0.1)
        inp = F.leaky_relu(self.conv(torch.cat([cor, flo], 1)), 0.1)
        out = self.gru(torch.cat([inp, flow, feature], 1))
        delta_feature, delta_flow = self.feat_head(out), self.flow_head(out)
        if self.scale_factor is not None:
            delta_feature = resize(delta_feature, self.scale_factor)
            delta_flow = self.scale_factor * resize(delta_flow, self.scale_factor)
        return delta_feature, delta_flow


# ---------------------------------------------------------------------------------------------
# The model


class AMTS(nn.Module):
    """AMT-S: the frame at time ``embt`` between two frames.

    ``forward(img0, img1, embt=0.5, scale_factor=1.0)`` takes ``(N, 3, H, W)`` float frames in
    [0, 1] with ``H`` and ``W`` multiples of ``16 / scale_factor`` (at least
    :data:`MIN_SIDE` after scaling) and returns the predicted middle frames ``(N, 3, H, W)`` in
    [0, 1]. With ``scale_factor < 1`` the flows are estimated on downsized frames and upsized
    before warping the full-resolution frames (VBench does this on small GPUs).
    """

    def __init__(
        self,
        corr_radius: int = 3,
        corr_levels: int = 4,
        num_flows: int = 3,
        channels: Sequence[int] = (20, 32, 44, 56),
        skip_channels: int = 20,
    ) -> None:
        super().__init__()
        self.radius, self.corr_levels, self.num_flows = corr_radius, corr_levels, num_flows
        c1, c2, c3, c4 = channels
        self.feat_encoder = FeatureEncoder(84)
        self.encoder = ContextPyramid(channels)
        self.decoder4 = InitDecoder(c4, c3, skip_channels)
        self.decoder3 = IntermediateDecoder(c3, c2, skip_channels)
        self.decoder2 = IntermediateDecoder(c2, c1, skip_channels)
        self.decoder1 = MultiFlowDecoder(c1, skip_channels, num_flows)
        update = dict(corr_levels=corr_levels, radius=corr_radius)
        self.update4 = UpdateBlock(c3, **update)
        self.update3 = UpdateBlock(c2, scale_factor=2, **update)
        self.update2 = UpdateBlock(c1, scale_factor=4, **update)
        self.comb_block = nn.Sequential(
            nn.Conv2d(3 * num_flows, 6 * num_flows, 3, 1, 1),
            nn.PReLU(6 * num_flows),
            nn.Conv2d(6 * num_flows, 3, 3, 1, 1),
        )

    def _lookup(
        self,
        corr_fn: BidirCorrelation,
        coord: torch.Tensor,
        flow0: torch.Tensor,
        flow1: torch.Tensor,
        embt: torch.Tensor,
        downsample: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Correlation along the flows (brought to 1/8 first) and the flows at 1/8.

        Under linear motion, the flow from the middle frame to frame 1 divided by ``t`` is the
        flow 0 -> 1, and the flow to frame 0 divided by ``1 - t`` the flow 1 -> 0.
        """
        if downsample != 1:
            inv = 1 / downsample
            flow0, flow1 = inv * resize(flow0, inv), inv * resize(flow1, inv)
        corr0, corr1 = corr_fn(coord + flow1 * (1.0 / embt), coord + flow0 * (1.0 / (1.0 - embt)))
        return torch.cat([corr0, corr1], 1), torch.cat([flow0, flow1], 1)

    @staticmethod
    def _refine(
        update: UpdateBlock,
        feature: torch.Tensor,
        flows: tuple[torch.Tensor, torch.Tensor],
        lookup: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        corr, flow = lookup
        delta_feature, delta_flow = update(feature, flow, corr)
        delta0, delta1 = torch.chunk(delta_flow, 2, 1)
        return flows[0] + delta0, flows[1] + delta1, feature + delta_feature

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        embt: float | torch.Tensor = 0.5,
        scale_factor: float = 1.0,
    ) -> torch.Tensor:
        """The frames at time ``embt`` (0: ``img0``, 1: ``img1``).

        Args:
            img0: ``(N, 3, H, W)`` float in [0, 1].
            img1: ``(N, 3, H, W)``.
            embt: the time, a float or a tensor broadcastable to ``(N, 1, 1, 1)``.
            scale_factor: resolution at which the flows are estimated.

        Returns:
            ``(N, 3, H, W)`` in [0, 1].
        """
        if img0.shape != img1.shape or img0.dim() != 4 or img0.shape[1] != 3:
            raise ValueError(
                f"img0 and img1 must both be (N, 3, H, W), got {tuple(img0.shape)} and "
                f"{tuple(img1.shape)}"
            )
        height, width = img0.shape[-2:]
        # The sizes F.interpolate gives (floor), where the 1/16 pyramid must divide evenly.
        sides = (math.floor(height * scale_factor), math.floor(width * scale_factor))
        if any(s % 16 or s < MIN_SIDE for s in sides):
            raise ValueError(
                f"AMT-S needs frames whose sides times scale_factor ({scale_factor}) are "
                f"multiples of 16 and at least {MIN_SIDE}, got {height}x{width}: pad them "
                f"(evaluation.metrics.motion_smoothness pads like VBench)"
            )
        if not isinstance(embt, torch.Tensor):
            embt = torch.tensor(float(embt))
        embt = embt.to(img0).reshape(-1, 1, 1, 1)
        # One mean per sample over both frames, channels and pixels, reduced in AMT's order
        # (channels, then rows, then columns) so that float rounding matches.
        mean = torch.cat([img0, img1], 2).mean(1, keepdim=True).mean(2, keepdim=True)
        mean = mean.mean(3, keepdim=True)
        img0, img1 = img0 - mean, img1 - mean
        small0 = resize(img0, scale_factor) if scale_factor != 1.0 else img0
        small1 = resize(img1, scale_factor) if scale_factor != 1.0 else img1
        n, _, h, w = small0.shape
        coord = coords_grid(n, h // 8, w // 8, img0.device)

        fmap0, fmap1 = self.feat_encoder(torch.cat([small0, small1])).chunk(2)
        corr_fn = BidirCorrelation(fmap0, fmap1, self.corr_levels, self.radius)
        f0_1, f0_2, f0_3, f0_4 = self.encoder(small0)
        f1_1, f1_2, f1_3, f1_4 = self.encoder(small1)

        # 1/16 -> 1/8, refined with correlation at 1/8
        flow0, flow1, ft = self.decoder4(f0_4, f1_4, embt)
        lookup = self._lookup(corr_fn, coord, flow0, flow1, embt, 1)
        flow0, flow1, ft = self._refine(self.update4, ft, (flow0, flow1), lookup)
        # 1/8 -> 1/4, refined at 1/8
        flow0, flow1, ft = self.decoder3(ft, f0_3, f1_3, flow0, flow1)
        lookup = self._lookup(corr_fn, coord, flow0, flow1, embt, 2)
        flow0, flow1, ft = self._refine(self.update3, ft, (flow0, flow1), lookup)
        # 1/4 -> 1/2, refined at 1/8
        flow0, flow1, ft = self.decoder2(ft, f0_2, f1_2, flow0, flow1)
        lookup = self._lookup(corr_fn, coord, flow0, flow1, embt, 4)
        flow0, flow1, ft = self._refine(self.update2, ft, (flow0, flow1), lookup)
        # 1/2 -> full resolution: several flow pairs, masks and residuals
        flow0, flow1, mask, residual = self.decoder1(ft, f0_1, f1_1, flow0, flow1)

        if scale_factor != 1.0:
            inv = 1.0 / scale_factor
            flow0, flow1 = resize(flow0, inv) * inv, resize(flow1, inv) * inv
            mask, residual = resize(mask, inv), resize(residual, inv)
        return self._combine(img0, img1, flow0, flow1, mask, residual, mean).clamp(0, 1)

    def _combine(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        flow0: torch.Tensor,
        flow1: torch.Tensor,
        mask: torch.Tensor,
        residual: torch.Tensor,
        mean: torch.Tensor,
    ) -> torch.Tensor:
        """Each flow pair gives ``m * warp(img0) + (1 - m) * warp(img1) + mean + residual``; the
        result is their average plus ``comb_block`` of all of them.

        Shapes: images ``(N, 3, H, W)`` (mean removed), flows ``(N, 2k, H, W)``, mask
        ``(N, k, H, W)``, residual ``(N, 3k, H, W)``, mean ``(N, 1, 1, 1)``.
        """
        n, c, h, w = flow0.shape
        k = c // 2

        def repeat(x: torch.Tensor) -> torch.Tensor:  # (N, ...) -> (N * k, ...), sample-major
            return x.unsqueeze(1).expand(-1, k, *x.shape[1:]).reshape(n * k, *x.shape[1:])

        warped0 = backward_warp(repeat(img0), flow0.reshape(n * k, 2, h, w))
        warped1 = backward_warp(repeat(img1), flow1.reshape(n * k, 2, h, w))
        m = mask.reshape(n * k, 1, h, w)
        candidates = m * warped0 + (1 - m) * warped1 + repeat(mean)
        candidates = (candidates + residual.reshape(n * k, 3, h, w)).reshape(n, k, 3, h, w)
        return candidates.mean(1) + self.comb_block(candidates.view(n, k * 3, h, w))


# ---------------------------------------------------------------------------------------------
# Scale rule, weights


def vbench_scale(height: int, width: int, total_memory: int | None = None) -> float:
    """VBench's AMT scale for ``height x width`` frames (``MotionSmoothness.motion_score``).

    On CUDA, ``s = 1024*512 / (H*W) * sqrt((memory - 2500 MiB) / 1500 MiB)``, capped at 1, then
    ``16 / floor(16 / sqrt(s))``; on the CPU (``total_memory=None``) VBench's anchors make it 1
    for any realistic frame. The padding divisor is ``int(16 / scale)``.

    Args:
        height: frame height before padding.
        width: frame width before padding.
        total_memory: the GPU's total memory in bytes, ``None`` on the CPU.
    """
    if total_memory is None:  # VBench's CPU anchors
        resolution, memory, bias, available = 8192 * 8192, 1, 0, 1
    else:
        resolution, memory, bias = 1024 * 512, 1500 * 1024**2, 2500 * 1024**2
        available = total_memory
    scale = resolution / (height * width) * math.sqrt((available - bias) / memory)
    scale = min(scale, 1.0)
    # VBench's expression, written the same way so that the float result matches.
    return 1 / math.floor(1 / math.sqrt(scale) * 16) * 16


def vbench_cache_file() -> Path:
    """Where VBench keeps the checkpoint: ``$VBENCH_CACHE_DIR/amt_model/amt-s.pth`` (default
    ``~/.cache/vbench``), read when called."""
    root = os.environ.get("VBENCH_CACHE_DIR") or str(Path.home() / ".cache" / "vbench")
    return Path(root).expanduser() / "amt_model" / AMT_S_FILENAME


def resolve_amt_weights(
    weights: str | os.PathLike | None = None, argument: str = "weights"
) -> WeightsSource:
    """Where AMT-S's weights are (no loading, no download).

    Args:
        weights: ``None`` (the caches), ``"random"``, a checkpoint file or a directory with
            ``amt-s.pth``.
        argument: what the error message calls ``weights`` (e.g. a config key).

    Raises:
        WeightsNotFoundError: nothing found; the message says where it looked, the
            ``hf download`` command and the argument to set.
    """
    return resolve_weights(
        f"frame interpolator 'amt_s' (AMT-S, {AMT_S_FILENAME}, published at {AMT_S_URL})",
        weights,
        hub_id=AMT_S_HUB_ID,
        hub_filenames=(AMT_S_FILENAME,),
        cache_files=[vbench_cache_file()],
        argument=argument,
        alternative=(
            "inject another interpolator: interpolator=<module (img0, img1) -> middle frame>"
        ),
    )


class _InertType(type):
    """Calling :class:`_Inert` gives :class:`_Inert` back, so that whatever a pickle builds from
    it (calls, attribute look-ups, calls of those) stays this one inert class."""

    def __call__(cls, *args: object, **kwargs: object) -> type:
        return cls


class _Inert(metaclass=_InertType):
    """Stands in for every non-tensor global of a checkpoint's pickle: constructing it, calling
    it or setting its state returns or changes nothing, and nothing of the file runs."""

    def __new__(cls, *args: object, **kwargs: object) -> type:  # pickle's NEWOBJ
        return cls

    @staticmethod
    def __setstate__(*args: object) -> None:  # pickle's BUILD on the class itself
        return None


def _load_with_inert_globals(path: Path) -> object:
    """``torch.load(weights_only=True)`` with every global torch does not allow mapped to
    :class:`_Inert`: the globals named in the file are never imported or called."""
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} needs pickled objects besides tensors and is not a zip checkpoint, which "
            f"is the only kind whose objects can be skipped safely; re-save its state dict"
        )
    names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    # BUILD checks the type of what it builds, so _Inert's metaclass is allowed too, under a
    # name made up for this call: no file can name it, and so call it.
    secret = f"{__name__}._InertType_{secrets.token_hex(16)}"
    inert = [(_Inert, name) for name in names] + [(_InertType, secret)]
    with torch.serialization.safe_globals(inert):
        return torch.load(path, map_location="cpu", weights_only=True)


def load_amt_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of an AMT-S checkpoint, read without running code from the file.

    ``.safetensors`` and tensors-only pickles go through
    :func:`evaluation.checkpoints.load_state_dict`. A ``torch.save`` zip archive that also holds
    other objects (what made VBench load ``amt-s.pth`` with ``weights_only=False``) is read with
    ``torch.load(weights_only=True)`` too, each extra global replaced by an inert placeholder.
    The state dict is taken from under ``state_dict`` if the file wraps it.

    Returns:
        name -> tensor, on the CPU.
    """
    path = Path(path)
    try:
        return load_state_dict(path)
    except ValueError as err:
        if "Unsupported global" not in str(err):
            raise
    obj = _load_with_inert_globals(path)
    while isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    state = obj if isinstance(obj, dict) else {}
    state = {k: v for k, v in state.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not state:
        raise ValueError(f"{path} holds no tensors under 'state_dict'")
    return state


def _first_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """The first difference between ``state`` and ``model``'s state dict, in the model's key
    order (missing keys and shapes), then the file's (unexpected keys); ``None`` if none."""
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            return f"missing key {key!r} (shape {list(tensor.shape)})"
        if tuple(state[key].shape) != tuple(tensor.shape):
            return (
                f"key {key!r} has shape {list(state[key].shape)} in the file, "
                f"{list(tensor.shape)} in AMT-S"
            )
    for key in state:
        if key not in expected:
            return f"unexpected key {key!r}"
    return None


def check_amt_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read ``path`` (:func:`load_amt_state_dict`) and check that it is AMT-S's.

    Returns:
        The state dict.

    Raises:
        ValueError: the file is not a readable checkpoint, or its keys or shapes differ from
            AMT-S's; the message names the first mismatch.
    """
    state = load_amt_state_dict(path)
    mismatch = _first_mismatch(AMTS(), state)
    if mismatch is not None:
        raise ValueError(
            f"{path} is not an AMT-S checkpoint ({AMT_S_NUM_TENSORS} tensors as in "
            f"{AMT_S_HUB_ID}/{AMT_S_FILENAME}): {mismatch}"
        )
    return state


_CACHE: dict[tuple[str, str], AMTS] = {}
_LOCK = threading.Lock()


def load_amt(
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    argument: str = "weights",
) -> AMTS:
    """AMT-S with local weights (strict), in eval mode, built once per weights and device.

    Args:
        weights: ``None`` (the caches), ``"random"`` (seed 0; tests), a file or a directory.
        device: where the model lives.
        argument: what error messages call ``weights``.

    Raises:
        WeightsNotFoundError: no weights (see :func:`resolve_amt_weights`).
        ValueError: the file is not AMT-S's (first mismatching key named).
    """
    source = resolve_amt_weights(weights, argument)
    key = (str(source), str(torch.device(device)))
    with _LOCK:
        if key not in _CACHE:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = AMTS()
            if source.path is not None:
                model.load_state_dict(check_amt_checkpoint(source.path), strict=True)
            _CACHE[key] = model.eval().requires_grad_(False).to(device)
        return _CACHE[key]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m evaluation.amt convert SRC DST``: AMT-S's tensors from ``SRC`` (checked
    against the architecture) as a safetensors file ``DST``; says whether ``SRC``'s sha256 is
    the published file's."""
    parser = argparse.ArgumentParser(prog="python -m evaluation.amt", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("convert", help="write amt-s.pth's tensors as safetensors")
    convert.add_argument("src", type=Path)
    convert.add_argument("dst", type=Path)
    args = parser.parse_args(argv)
    from safetensors.torch import save_file

    from freqlab.atomic import atomic_path

    state = check_amt_checkpoint(args.src)
    with atomic_path(args.dst) as tmp:  # safetensors' own writer leaves a new file 0600
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    count = sum(v.numel() for v in state.values())
    print(f"wrote {len(state)} tensors ({count:,} parameters) to {args.dst}")
    digest = hashlib.sha256(args.src.read_bytes()).hexdigest()
    same = "is" if digest == AMT_S_SHA256 else "is not"
    print(f"{args.src} {same} the published {AMT_S_FILENAME} (sha256 {digest})")


if __name__ == "__main__":
    main()
