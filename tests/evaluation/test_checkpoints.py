"""evaluation.checkpoints: encoder weights from a local file or directory, the hub cache, one clear
error when missing; safe loading that refuses pickles, TorchScript and corrupt files."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from evaluation.checkpoints import load_state_dict, resolve_weights
from evaluation.encoders import FrameEncoder, load_encoder
from freqlab.hub import WeightsNotFoundError

NAME = "test_vit_tiny"  # registered in conftest: timm vit_tiny_patch16_224, depth 1
HUB_ID = "test-org/vit-tiny"


def _params(encoder: FrameEncoder) -> dict[str, torch.Tensor]:
    return encoder.module.model.state_dict()


def _assert_loaded(encoder: FrameEncoder, state: dict[str, torch.Tensor]) -> None:
    loaded = _params(encoder)
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def _fake_hub_cache(cache, repo_id, filename, state, commit="0123456789abcdef0123"):
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / filename))
    return snapshot / filename


def test_local_safetensors_and_pth(tmp_path, state_dict):
    safe = tmp_path / "model.safetensors"
    save_file(state_dict, str(safe))
    encoder = load_encoder(NAME, weights=safe)
    _assert_loaded(encoder, state_dict)
    assert encoder.weights == f"file:{safe.resolve()}" and encoder.name == NAME
    pth = tmp_path / "original.pth"
    torch.save(state_dict, pth)
    _assert_loaded(load_encoder(NAME, weights=pth), state_dict)


def test_local_directory_and_dino_training_checkpoint(tmp_path, state_dict):
    (tmp_path / "dir").mkdir()
    save_file(state_dict, str(tmp_path / "dir" / "model.safetensors"))
    _assert_loaded(load_encoder(NAME, weights=tmp_path / "dir"), state_dict)
    # DINO's checkpoint.pth: {"teacher": {"module.backbone.*", "module.head.*"}, ...}
    teacher = {f"module.backbone.{k}": v for k, v in state_dict.items()}
    teacher["module.head.mlp.0.weight"] = torch.zeros(4, 192)
    checkpoint = tmp_path / "checkpoint.pth"
    torch.save({"teacher": teacher, "epoch": 100}, checkpoint)
    _assert_loaded(load_encoder(NAME, weights=checkpoint), state_dict)


def test_hub_cache_is_found_offline(offline, state_dict):
    path = _fake_hub_cache(offline / "hf", HUB_ID, "model.safetensors", state_dict)
    encoder = load_encoder(NAME)
    _assert_loaded(encoder, state_dict)
    assert encoder.weights == f"hf-cache:{HUB_ID}/model.safetensors@0123456789ab"
    assert (
        resolve_weights("x", None, hub_id=HUB_ID, hub_filenames=["model.safetensors"]).path == path
    )


def test_missing_weights_message(offline):
    with pytest.raises(WeightsNotFoundError) as info:
        load_encoder(NAME)
    message = str(info.value)
    assert f"No weights for encoder '{NAME}'" in message
    assert str(offline / "hf") in message  # where it looked
    assert f"hf download {HUB_ID} model.safetensors" in message  # how to fetch
    assert "weights='/path/to/checkpoint'" in message and "config key `weights`" in message
    assert 'encoder="pixel"' in message
    assert isinstance(info.value, FileNotFoundError)
    original = pytest.raises(WeightsNotFoundError, load_encoder, "dino_vits16")
    assert "dino_deitsmall16_pretrain.pth" in str(original.value)


def test_missing_local_file(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="no such file"):
        load_encoder(NAME, weights=tmp_path / "nope.pth")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsNotFoundError, match="without a unique checkpoint"):
        load_encoder(NAME, weights=tmp_path / "empty")


class Payload:
    """Not a tensor: torch.load(weights_only=True) must refuse to build it."""

    def __reduce__(self):
        return (print, ("arbitrary code ran",))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.script / save deprecation
def test_pickles_and_torchscript_are_refused(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    torch.save({"weight": torch.zeros(1), "payload": Payload()}, bad)
    with pytest.raises(ValueError, match="Pickled objects and TorchScript archives are refused"):
        load_state_dict(bad)
    assert "arbitrary code ran" not in capsys.readouterr().out
    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(scripted))
    with pytest.raises(ValueError, match="it is a TorchScript archive"):
        load_state_dict(scripted)


def _corrupt_files(tmp_path, state_dict):
    """Files that are no checkpoint: random bytes, text, empty, truncated downloads."""
    import random

    rng = random.Random(0)
    files = {
        "random.pth": bytes([0x50]) + rng.randbytes(4095),  # not a pickle's PROTO byte
        "random_pickle.pth": b"\x80" + rng.randbytes(4095),  # starts like a pickle, is not one
        "text.pth": b"this is not a checkpoint\n",
        "empty.bin": b"",
        "random.safetensors": rng.randbytes(4096),
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / name
        out[name].write_bytes(data)
    whole = tmp_path / "whole.pth"
    torch.save(state_dict, whole)
    out["truncated.pth"] = tmp_path / "truncated.pth"
    out["truncated.pth"].write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    safe = tmp_path / "whole.safetensors"
    save_file(state_dict, str(safe))
    out["truncated.safetensors"] = tmp_path / "truncated.safetensors"
    out["truncated.safetensors"].write_bytes(safe.read_bytes()[:100])
    return out


def test_corrupt_checkpoints_are_not_valid_checkpoints(tmp_path, state_dict):
    from evaluation.checkpoints import InvalidCheckpointError, check_checkpoint

    for name, path in _corrupt_files(tmp_path, state_dict).items():
        for read in (check_checkpoint, load_state_dict):
            with pytest.raises(InvalidCheckpointError) as info:
                read(path)
            message = str(info.value)
            assert f"{path} is not a valid checkpoint" in message, (name, message)
            assert "weights_only" not in message, (name, message)  # never torch's advice
            assert "False" not in message, (name, message)


def test_valid_checkpoints_pass_the_start_up_check(tmp_path, state_dict):
    from evaluation.checkpoints import check_checkpoint

    torch.save(state_dict, tmp_path / "ok.pth")
    save_file(state_dict, str(tmp_path / "ok.safetensors"))
    check_checkpoint(tmp_path / "ok.pth")
    check_checkpoint(tmp_path / "ok.safetensors")
    bad = tmp_path / "bad.pth"
    torch.save({"weight": torch.zeros(1), "payload": Payload()}, bad)
    with pytest.raises(ValueError, match="Unsupported global") as info:
        check_checkpoint(bad)  # a real checkpoint that needs objects: refused, not "corrupt"
    assert "weights_only` set to `False`" not in str(info.value)
