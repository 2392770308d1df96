"""Motion: mean frame difference and RAFT flow magnitude, RAFT plumbing offline."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from evaluation.metrics import Motion, flow_magnitude, motion
from evaluation.optical_flow import resolve_raft_weights
from freqlab.hub import WeightsNotFoundError


class ConstantFlow(nn.Module):
    """Flow (3, 4) px everywhere: magnitude 5."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, ...]] = []

    def forward(self, a, b):
        self.calls.append(tuple(a.shape))
        flow = torch.empty(a.shape[0], 2, *a.shape[-2:])
        flow[:, 0], flow[:, 1] = 3.0, 4.0
        return [flow * 0, flow]  # RAFT-style list of refinements, the last one counts


def test_flow_magnitude_with_an_injected_model(make_videos):
    flow = ConstantFlow()
    videos = make_videos(2, 4, h=100, w=150)
    scores = flow_magnitude(videos, flow, size=128, batch_size=4)
    torch.testing.assert_close(scores, torch.full((2,), 5.0))
    # 2 videos x 3 pairs in chunks of 4; frames resized to a 128 shorter side, multiples of 8
    assert flow.calls == [(4, 3, 128, 192), (2, 3, 128, 192)]


def test_raft_random_weights_smoke_and_batch_invariance(make_videos):
    """torchvision RAFT-small, random weights (seed 0), 4 refinement steps."""
    videos = make_videos(2, 3, h=64, w=64, seed=3)
    kwargs = {"weights": "random", "size": 128, "num_flow_updates": 4}
    full = flow_magnitude(videos, "raft_small", batch_size=4, **kwargs)
    alone = flow_magnitude(videos[1:], "raft_small", batch_size=1, **kwargs)
    assert full.shape == (2,) and torch.isfinite(full).all() and (full >= 0).all()
    torch.testing.assert_close(alone, full[1:], atol=1e-4, rtol=1e-4)


def test_motion_class_auto_flow_without_weights(make_videos):
    videos = make_videos(2, 3)
    metric = Motion()  # auto: no RAFT weights in the (empty) torch hub cache
    metric.update(videos)
    assert set(metric.compute()) == {"motion"}
    assert metric.metadata["flow"].startswith("off: No weights for optical flow model 'raft_large'")
    torch.testing.assert_close(metric.per_video()["motion"], motion(videos))


def test_motion_class_required_flow_needs_weights(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="no such file"):
        Motion(flow_weights=tmp_path / "missing.pth")  # auto, but a named file must exist
    with pytest.raises(WeightsNotFoundError) as info:
        Motion(flow="raft_small")
    message = str(info.value)
    assert "raft_small_C_T_V2-01064c6d.pth" in message and "TORCH_HOME" in message
    assert "flow_weights='/path/to/checkpoint'" in message and "flow=None" in message


def test_motion_class_with_raft_weights_from_file_and_cache(tmp_path, offline, make_videos):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path / "raft.pth"
    torch.save(raft_small().state_dict(), path)
    videos = make_videos(1, 2, h=64, w=64)
    metric = Motion(flow="raft_small", flow_weights=path, flow_size=128, num_flow_updates=2)
    metric.update(videos)
    result = metric.compute()
    assert set(result) == {"motion", "motion_flow[raft_small]"}
    assert metric.metadata["flow"] == f"file:{path.resolve()}"
    # the same file in torch hub's checkpoint cache is found with no argument
    cache = offline / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "raft_small_C_T_V2-01064c6d.pth").write_bytes(path.read_bytes())
    assert resolve_raft_weights("raft_small").kind == "cache"


def test_motion_class_with_injected_flow(make_videos):
    metric = Motion(flow=ConstantFlow(), flow_size=128)
    metric.update(make_videos(3, 2))
    result = metric.compute()
    assert result["motion_flow[custom:ConstantFlow]"].item() == pytest.approx(5.0)
