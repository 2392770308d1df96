"""VBench dynamic degree: sub-sampling to about 8 fps, centred padding, top-5 % flow scores, the
6 * min(H, W) / 256 threshold and round(N / 4) moving pairs, against hand-computed values with an
injected flow model; RAFT plumbing (C_T_V1, missing weights, wrong keys) offline."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from evaluation.metrics.dynamic_degree import (
    DynamicDegree,
    dynamic_degree,
    dynamic_pair_scores,
    is_dynamic,
    moving_threshold,
    pad_to_multiple_of_8,
    required_moving_pairs,
    subsample_interval,
    top_flow_magnitude,
)
from evaluation.optical_flow import load_raft, resolve_raft_weights
from freqlab.hub import WeightsNotFoundError


class PairFlow(nn.Module):
    """Flow looked up by frame pair. Frame ``t`` of an :func:`index_video` is filled with the
    value ``t``, which the model reads back from its [-1, 1] input; ``fields[(i, j)]`` is the
    ``(2, h, w)`` flow of pair ``(i, j)`` (default: no motion). Records pairs and input shapes."""

    def __init__(self, fields: dict[tuple[int, int], torch.Tensor] | None = None) -> None:
        super().__init__()
        self.fields = fields or {}
        self.pairs: list[tuple[int, int]] = []
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
        self.shapes.append(tuple(a.shape))
        out = []
        for x, y in zip(a, b, strict=True):
            pair = (round(float(x[0, 0, 0] + 1) * 127.5), round(float(y[0, 0, 0] + 1) * 127.5))
            self.pairs.append(pair)
            out.append(self.fields.get(pair, torch.zeros(2, *a.shape[-2:])))
        flow = torch.stack(out)
        return [flow * 0, flow]  # RAFT-style refinements: the last one counts


def index_video(t: int, h: int = 16, w: int = 16, offset: int = 0) -> torch.Tensor:
    """``(1, t, 3, h, w)`` uint8, frame ``i`` filled with ``offset + i``."""
    values = torch.arange(offset, offset + t, dtype=torch.uint8)
    return values[None, :, None, None, None].expand(1, t, 3, h, w).contiguous()


def field(h: int, w: int, u: float, count: int, v: float = 0.0) -> torch.Tensor:
    """``(2, h, w)`` flow: the first ``count`` pixels (row-major) move by ``(u, v)``, others 0."""
    flow = torch.zeros(2, h * w)
    flow[0, :count], flow[1, :count] = u, v
    return flow.reshape(2, h, w)


def test_subsample_interval_is_vbench_rounding():
    table = {24: 3, 25: 3, 30: 4, 20: 2, 12: 2, 11: 1, 8: 1, 4: 1, 60: 8, 29.97: 4}
    assert {fps: subsample_interval(fps) for fps in table} == table
    assert subsample_interval(None) == 1
    for bad in (0, -8, float("nan"), float("inf"), True, "24"):
        with pytest.raises(ValueError, match="fps must be a positive number"):
            subsample_interval(bad)


def test_required_pairs_threshold_and_check_move():
    # round(4 * N / 16), halves to even: 2 -> 0, 6 -> 2, 10 -> 2, 14 -> 4
    table = {1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 2, 10: 2, 14: 4, 16: 4, 17: 4}
    assert {n: required_moving_pairs(n) for n in table} == table
    assert moving_threshold(256, 256) == 6.0
    assert moving_threshold(320, 512) == 7.5
    assert moving_threshold(20, 12) == 0.28125
    assert is_dynamic([0.0, 7.0, 8.0], 7.0, 1) is True  # strictly above: 8.0 only
    assert is_dynamic([0.0, 7.0, 8.0], 7.0, 2) is False
    assert is_dynamic([0.0, 0.0], 7.0, 0) is True  # VBench's N = 2 case: count 0 >= 0 at once
    assert is_dynamic([], 7.0, 0) is False  # no pair at all: the loop never runs


def test_top_flow_magnitude_by_hand():
    # 16 x 24: k = int(384 * 0.05) = 19; magnitudes 5 (3, 4) x 10 pixels, 0.5 x 9, 0.25 x 30
    flow = torch.zeros(2, 16 * 24)
    flow[0, :10], flow[1, :10] = 3.0, 4.0
    flow[0, 10:19], flow[1, 10:19] = 0.3, 0.4
    flow[0, 19:49] = -0.25
    flow = flow.reshape(1, 2, 16, 24)
    expected = (10 * 5.0 + 9 * 0.5) / 19
    assert top_flow_magnitude(flow).item() == pytest.approx(expected, rel=1e-6)
    assert top_flow_magnitude(flow[..., :4, :4]).isnan().all()  # int(16 * 0.05) = 0: VBench's NaN


def test_padding_is_centred_replicate():
    x = torch.arange(130.0).reshape(1, 1, 10, 13)
    out = pad_to_multiple_of_8(x)
    assert out.shape == (1, 1, 16, 16)
    # pad_h = 6: 3 top, 3 bottom; pad_w = 3: 1 left, 2 right
    torch.testing.assert_close(out[..., 3:13, 1:14], x)
    torch.testing.assert_close(out[..., 0, 1:14], x[..., 0, :])
    torch.testing.assert_close(out[..., 15, 1:14], x[..., 9, :])
    torch.testing.assert_close(out[..., 3:13, 0], x[..., :, 0])
    torch.testing.assert_close(out[..., 3:13, 15], x[..., :, 12])
    assert pad_to_multiple_of_8(out) is out


def test_top_five_percent_of_the_padded_frame_against_the_unpadded_threshold():
    # 12 x 20 frames: threshold 6 * 12 / 256 = 0.28125; padded to 16 x 24, k = 19.
    # 18 pixels at 0.3 score 18 * 0.3 / 19 = 0.2842 > 0.28125: the pair moves;
    # 17 pixels score 17 * 0.3 / 19 = 0.2684: it does not. (k from the unpadded 12 x 20 would be
    # 12 and both would score 0.3.)
    fields = {(0, 1): field(16, 24, 0.3, 18), (10, 11): field(16, 24, 0.3, 17)}
    flow = PairFlow(fields)
    videos = torch.cat([index_video(2, 12, 20), index_video(2, 12, 20, offset=10)])
    scores = dynamic_pair_scores(videos, None, flow)
    expected = torch.tensor([[18 * 0.3 / 19], [17 * 0.3 / 19]], dtype=torch.float64)
    torch.testing.assert_close(scores, expected, rtol=1e-6, atol=0)
    assert flow.shapes == [(2, 3, 16, 24)]
    # N = 4 frames (fps 8: all) need round(1.0) = 1 moving pair
    videos = torch.cat([index_video(4, 12, 20), index_video(4, 12, 20, offset=10)])
    assert dynamic_degree(videos, 8, PairFlow(fields)).tolist() == [True, False]


def test_sixteen_frames_need_four_moving_pairs():
    moving = field(16, 16, 3.0, 256, v=4.0)  # magnitude 5 everywhere > 6 * 16 / 256
    three = PairFlow({(t, t + 1): moving for t in (0, 5, 9)})
    four = PairFlow({(t, t + 1): moving for t in (0, 5, 9, 14)})
    assert dynamic_degree(index_video(16), 8, three).tolist() == [False]
    assert dynamic_degree(index_video(16), 8, four).tolist() == [True]
    assert len(four.pairs) == 15  # every pair at 8 fps


@pytest.mark.parametrize(
    ("fps", "pairs"),
    [
        (24, [(0, 3), (3, 6), (6, 9)]),
        (25, [(0, 3), (3, 6), (6, 9)]),
        (30, [(0, 4), (4, 8)]),
        (20, [(0, 2), (2, 4), (4, 6), (6, 8)]),
        (11, [(t, t + 1) for t in range(9)]),
        (None, [(t, t + 1) for t in range(9)]),
    ],
)
def test_frames_are_subsampled_to_about_8_fps(fps, pairs):
    flow = PairFlow()
    dynamic_pair_scores(index_video(10), fps, flow, batch_size=16)
    assert flow.pairs == pairs


def test_two_frames_left_are_dynamic_without_motion_and_one_frame_is_static():
    # N = 2 (round(0.5) = 0 pairs required): dynamic at the first pair, which does not move
    assert dynamic_degree(index_video(2), 8, PairFlow()).tolist() == [True]
    assert dynamic_degree(index_video(5), 24, PairFlow()).tolist() == [True]  # frames 0 and 3
    # N = 1: no pair, static, and the model is never called
    flow = PairFlow()
    with pytest.warns(UserWarning, match="keep 1 frame after sub-sampling"):
        assert dynamic_degree(index_video(3), 24, flow).tolist() == [False]
    assert flow.pairs == []


def test_batching_float_input_and_video_order():
    moving = field(16, 16, 1.0, 256)
    fields = {(10, 11): moving, (20, 21): moving, (21, 22): moving}
    videos = torch.cat([index_video(4, offset=o) for o in (0, 10, 20)])
    expected = [False, True, True]  # N = 4 frames need round(1.0) = 1 moving pair
    flow = PairFlow(fields)
    assert dynamic_degree(videos, 8, flow, batch_size=4).tolist() == expected
    assert [s[0] for s in flow.shapes] == [4, 4, 1]  # 9 pairs in chunks of 4, across videos
    assert dynamic_degree(videos, 8, PairFlow(fields), batch_size=1).tolist() == expected
    assert dynamic_degree(videos.float() / 255, 8, PairFlow(fields)).tolist() == expected


def test_class_fraction_per_video_and_fps_override():
    moving = field(16, 16, 1.0, 256)
    metric = DynamicDegree(fps=8, flow_model=PairFlow({(0, 1): moving}))
    metric.update(index_video(4))  # dynamic
    metric.update(torch.cat([index_video(4, offset=10), index_video(4, offset=20)]))  # static
    metric.update(index_video(10), fps=24)  # frames 0, 3, 6, 9: no moving pair (0, 1)
    assert metric.name == "dynamic_degree[custom:PairFlow]"
    torch.testing.assert_close(metric.per_video()[metric.name], torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert metric.compute() == {metric.name: pytest.approx(0.25)}
    assert metric.metadata["flow_weights"] == "injected" and metric.metadata["fps"] == 8
    with pytest.raises(ValueError, match="flow_weights is only used with a named RAFT"):
        DynamicDegree(fps=8, flow_model=PairFlow(), flow_weights="random")
    with pytest.raises(ValueError, match="fps must be a positive number"):
        DynamicDegree(fps=0, flow_model=PairFlow())


def test_raft_random_weights_smoke():
    """torchvision RAFT with random weights (seed 0) at 128 x 128, a couple of updates."""
    gen = torch.Generator().manual_seed(0)
    videos = torch.randint(0, 256, (2, 3, 3, 128, 128), generator=gen, dtype=torch.uint8)
    metric = DynamicDegree(
        fps=8, flow_model="raft_small", flow_weights="random", num_flow_updates=2
    )
    metric.update(videos)
    assert metric.name == "dynamic_degree[raft_small@random]"
    values = metric.per_video()[metric.name]
    assert values.shape == (2,) and set(values.tolist()) <= {0.0, 1.0}
    scores = dynamic_pair_scores(videos, 8, "raft_large_v1", weights="random", num_flow_updates=1)
    assert scores.shape == (2, 2) and torch.isfinite(scores).all() and (scores >= 0).all()
    with pytest.raises(ValueError, match="at least 128 pixels a side"):
        dynamic_degree(videos[..., :64, :64], 8, "raft_small", weights="random")


def test_raft_large_v1_is_torchvision_c_t_v1():
    model = load_raft("raft_large_v1", "random")
    assert sum(p.numel() for p in model.parameters()) == 5_257_536  # RAFT-Large, as raft-things
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_raft_weights("raft_large_v1")
    message = str(info.value)
    assert "raft_large_C_T_V1-22a6c225.pth" in message and "Raft_Large_Weights.C_T_V1" in message
    assert "optical_flow.raft_large(weights='C_T_V1')" in message


def test_missing_weights_name_the_file_command_and_argument(offline):
    videos = index_video(3, 128, 128)
    with pytest.raises(WeightsNotFoundError) as info:
        DynamicDegree(fps=8)
    message = str(info.value)
    cache = offline / "torch" / "hub" / "checkpoints"
    assert f"{cache / 'raft_large_C_T_V1-22a6c225.pth'}: not there" in message
    assert "https://download.pytorch.org/models/raft_large_C_T_V1-22a6c225.pth" in message
    assert "torchvision.models.optical_flow.raft_large(weights='C_T_V1')" in message
    assert "flow_weights='/path/to/checkpoint'" in message and "TORCH_HOME" in message
    assert "flow=None" not in message  # Motion's way out does not apply here
    with pytest.raises(WeightsNotFoundError, match="raft_large_C_T_V1"):
        dynamic_degree(videos, 8)


def test_weights_from_the_torch_hub_cache_and_wrong_keys(tmp_path, offline):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(1)
    state = raft_small().state_dict()
    cache = offline / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(state, cache / "raft_small_C_T_V2-01064c6d.pth")
    metric = DynamicDegree(fps=8, flow_model="raft_small", num_flow_updates=1)
    assert metric.name == "dynamic_degree[raft_small]"
    assert metric.metadata["flow_weights"].startswith("cache:")

    first = next(iter(state))
    renamed = {("renamed." + k if k == first else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(ValueError, match=f"missing key '{first}'"):
        DynamicDegree(fps=8, flow_model="raft_small", flow_weights=tmp_path / "renamed.pth")
    wrong = dict(state)
    wrong[first] = torch.zeros(1)
    torch.save(wrong, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match=rf"'{first}' has shape \(1,\), expected"):
        load_raft("raft_small", tmp_path / "shape.pth")
    torch.save({**state, "extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match="unexpected key 'extra.weight'"):
        load_raft("raft_small", tmp_path / "extra.pth")
    # princeton-vl's raft-things.pth (DataParallel keys): pointed at torchvision's port
    torch.save({"module.fnet.conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "things.pth")
    with pytest.raises(ValueError, match="raft_large_v1.*raft_large_C_T_V1-22a6c225.pth"):
        load_raft("raft_large_v1", tmp_path / "things.pth")


def test_threshold_has_no_fps_factor():
    # 24 fps: VBench's July-2024 factor max(1, 8 / fps) would not change it either, but at 4 fps
    # it would double the threshold; HEAD has none, so a pair at 1.5x the threshold moves.
    thres = moving_threshold(16, 16)
    moving = field(16, 16, 1.5 * thres, 256)
    assert dynamic_degree(index_video(4), 4, PairFlow({(0, 1): moving})).tolist() == [True]
    assert math.isclose(thres, 0.375)
