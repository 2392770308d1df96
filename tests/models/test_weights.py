"""Locating pretrained weights offline: the cache, local paths, and the one clear error."""

import pytest

from freqlab.models import MODELS, WeightsNotFoundError, get_model_spec, load_model
from freqlab.models.weights import download_command, parse_source

REAL_MODELS = sorted(name for name, spec in MODELS.items() if spec.pretrained)


def test_every_real_model_has_hub_sources():
    assert {"animatediff", "animatediff_v1", "modelscope", "zeroscope", "videocrafter2"} <= set(
        REAL_MODELS
    )
    for name in REAL_MODELS:
        spec = get_model_spec(name)
        assert spec.hub_ids and all("/" in repo for repo in spec.hub_ids.values())


@pytest.mark.parametrize("name", REAL_MODELS)
def test_missing_weights_message(name, empty_hf_home, network_attempts):
    spec = get_model_spec(name)
    with pytest.raises(WeightsNotFoundError) as info:
        load_model(name)
    err = info.value
    message = str(err)
    assert isinstance(err, ValueError)
    # One message from our code, with nothing chained from huggingface_hub or diffusers.
    assert err.__cause__ is None and err.__suppress_context__
    assert "Traceback" not in message
    for repo_id in spec.hub_ids.values():
        assert repo_id in message
        assert f"hf download {repo_id} " in message
        assert f"--local-dir ./models/{repo_id.split('/')[-1]}" in message
    # How to point the config (and the Python API) at a local copy.
    if len(spec.sources) == 1:
        assert f"python run.py model={name} model.path=./models/" in message
        assert f'load_model("{name}", path="./models/' in message
    else:
        for role in spec.sources:
            assert f"model.{role}=./models/" in message
            assert f'{role}="./models/' in message
    assert str(empty_hf_home) in message and "HF_HUB_OFFLINE=1" in message
    # Checked before diffusers: no network attempt, nothing written.
    assert network_attempts == []
    assert not empty_hf_home.exists() or not any(empty_hf_home.rglob("*"))


def test_missing_weights_with_local_files_only(hub_cache, monkeypatch, network_attempts):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(WeightsNotFoundError, match="local_files_only=True"):
        load_model("modelscope", local_files_only=True)
    assert network_attempts == []


def test_download_failure_is_one_clear_error(hub_cache, monkeypatch, network_attempts):
    # Online mode with the network down: the hub is tried (and the guard refuses), then the same
    # error class with the same guidance.
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(WeightsNotFoundError) as info:
        load_model("modelscope")
    message = str(info.value)
    assert "downloading failed" in message
    assert "hf download ali-vilab/text-to-video-ms-1.7b" in message
    assert info.value.__cause__ is None and info.value.reason is not None
    assert network_attempts  # the guard saw (and refused) the attempt


def test_revision_is_pinned_in_the_message(empty_hf_home):
    with pytest.raises(WeightsNotFoundError) as info:
        load_model("modelscope", revision="v1.0")
    message = str(info.value)
    assert "revision v1.0)" in message
    assert "hf download ali-vilab/text-to-video-ms-1.7b --revision v1.0 --local-dir" in message


def test_only_the_missing_sources_are_reported(hub_cache, tiny_dirs):
    # VideoCrafter2's base is ModelScope's VAE + text encoder: cached; its UNet is not.
    hub_cache.put("ali-vilab/text-to-video-ms-1.7b", tiny_dirs["ms"])
    with pytest.raises(WeightsNotFoundError) as info:
        load_model("videocrafter2")
    message = str(info.value)
    assert "adamdad/videocrafterv2_diffusers" in message
    assert "hf download ali-vilab" not in message


def test_incomplete_cache_names_the_missing_files(hub_cache, tiny_dirs, tmp_path):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(tiny_dirs["ms"], partial)
    shutil.rmtree(partial / "unet")
    hub_cache.put("ali-vilab/text-to-video-ms-1.7b", partial)
    with pytest.raises(
        WeightsNotFoundError,
        match=r"incomplete .*\(no unet/config\.json; unet/diffusion_pytorch_model\.safetensors",
    ):
        load_model("modelscope")


def test_local_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(WeightsNotFoundError, match="does not exist") as info:
        load_model("modelscope", path=missing)
    assert "model.path=/path/to/local/copy" in str(info.value)


def test_local_directory_without_weights(tmp_path, tiny_dirs):
    import shutil

    copy = tmp_path / "ms"
    shutil.copytree(tiny_dirs["ms"], copy)
    (copy / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(WeightsNotFoundError, match=r"lacks unet/diffusion_pytorch_model"):
        load_model("modelscope", path=copy)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("ali-vilab/text-to-video-ms-1.7b", ("ali-vilab/text-to-video-ms-1.7b", None)),
        (
            "guoyww/animatediff-motion-adapter-v1-4@abc123",
            ("guoyww/animatediff-motion-adapter-v1-4", "abc123"),
        ),
        ("./models/x", "path"),
        ("/data/ms", "path"),
        ("~/models/ms", "path"),
        ("not a repo", "path"),
    ],
)
def test_parse_source(value, expected):
    parsed = parse_source(value)
    if expected == "path":
        assert not isinstance(parsed, tuple)
    else:
        assert parsed == expected


def test_existing_relative_directory_wins_over_hub_id(tmp_path, monkeypatch):
    (tmp_path / "org" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not isinstance(parse_source("org/name"), tuple)


def test_download_command():
    assert download_command("a/b", None) == "hf download a/b --local-dir ./models/b"
    assert download_command("a/b", "r1", ["unet/*.json"]) == (
        'hf download a/b --revision r1 --local-dir ./models/b --include "unet/*.json"'
    )


def test_unknown_source_role_is_rejected():
    with pytest.raises(ValueError, match="unexpected argument.*unet.*sources are: base, adapter"):
        load_model("animatediff", unet="x")
    with pytest.raises(ValueError, match="either path= or pipeline="):
        load_model("modelscope", path="a", pipeline="b")


def test_tiny_models_take_no_weight_sources():
    with pytest.raises(ValueError, match="path do not apply"):
        load_model("tiny_modelscope", path="/data/ms")


# --------------------------------------------------------------------------- fingerprints


def test_fingerprint_of_a_hub_model_is_its_cached_commit(
    hub_cache, tmp_path, network_attempts, pipeline_layout
):
    from freqlab.models.registry import weights_fingerprint

    assert weights_fingerprint("modelscope") is None  # not on this machine
    src = pipeline_layout(tmp_path / "ms")
    first = "a" * 40
    hub_cache.put("ali-vilab/text-to-video-ms-1.7b", src, sha=first)
    assert weights_fingerprint("modelscope") == f"pipeline={first}"
    # main moves to a new commit: another fingerprint, so no stale sample is reused
    hub_cache.put("ali-vilab/text-to-video-ms-1.7b", src, sha="b" * 40)
    assert weights_fingerprint("modelscope") == f"pipeline={'b' * 40}"
    assert weights_fingerprint("modelscope", revision=first) == f"pipeline={first}"
    assert network_attempts == []


def test_fingerprint_of_a_local_copy_follows_its_files(tmp_path, pipeline_layout):
    import os

    from freqlab.models.registry import weights_fingerprint

    local = pipeline_layout(tmp_path / "ms")
    first = weights_fingerprint("modelscope", path=local)
    assert first is not None and first.startswith("pipeline=local:")
    assert weights_fingerprint("modelscope", path=local) == first  # stable
    (local / "unet" / ".cache.lock").write_text("")  # hidden leftovers do not count
    assert weights_fingerprint("modelscope", path=local) == first
    weights = local / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(b"other weights")  # replaced: another size
    replaced = weights_fingerprint("modelscope", path=local)
    assert replaced != first
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same size, newer
    assert weights_fingerprint("modelscope", path=local) not in (first, replaced)


def test_fingerprint_of_models_built_in_code():
    from freqlab.models.registry import weights_fingerprint
    from freqlab.testbed.model import weights_digest

    assert weights_fingerprint("tiny_animatediff") is None  # its weights_seed identifies it
    assert weights_fingerprint("testbed") == weights_digest()


def test_locate_weights_finds_without_loading(hub_cache, tmp_path, pipeline_layout):
    from freqlab.models.registry import locate_weights

    with pytest.raises(WeightsNotFoundError, match="hf download ali-vilab/text-to-video-ms-1.7b"):
        locate_weights("modelscope")
    hub_cache.put("ali-vilab/text-to-video-ms-1.7b", pipeline_layout(tmp_path / "ms"))
    found = locate_weights("modelscope")  # empty files: loading would fail, locating does not
    assert found["pipeline"].commit == "0123456789abcdef0123456789abcdef01234567"
    assert locate_weights("tiny_animatediff") == {}
