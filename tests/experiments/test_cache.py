"""experiments.cache: pass keys, verified pass records, metric values."""

from __future__ import annotations

import json

import torch

from experiments.cache import MetricCache, PassCache, metric_key, pass_keys

BASE = {"model": "testbed", "prompt": "a red circle", "seed": 0, "call": {"num_frames": 4}}
GAUSS = {"method": "gaussian", "d_s": 0.25, "d_t": 0.25, "order": 4, "rng": "per_sample"}
BUTTER = {**GAUSS, "method": "butterworth"}


def test_pass_k_does_not_depend_on_how_many_passes_follow():
    three, five = pass_keys(BASE, GAUSS, [25] * 3), pass_keys(BASE, GAUSS, [25] * 5)
    assert five[:3] == three
    assert len(set(five)) == 5


def test_filters_share_pass_zero_only():
    g, b = pass_keys(BASE, GAUSS, [25] * 3), pass_keys(BASE, BUTTER, [25] * 3)
    assert g[0] == b[0]
    assert g[1] != b[1] and g[2] != b[2]


def test_steps_prompt_seed_and_parents_change_keys():
    ref = pass_keys(BASE, GAUSS, [25, 25])
    assert pass_keys(BASE, GAUSS, [5, 10])[0] != ref[0]  # fast sampling: fewer steps in pass 0
    assert pass_keys(BASE, GAUSS, [25, 10])[1] != ref[1]
    assert pass_keys({**BASE, "seed": 1}, GAUSS, [25, 25])[1] != ref[1]  # via the parent
    assert pass_keys({**BASE, "prompt": "x"}, GAUSS, [25])[0] != ref[0]


def _store(cache: PassCache, key: str = "ab" * 16) -> torch.Tensor:
    z = torch.randn(4, 3, 8, 8)
    cache.store(key, z, pass_index=0, prompt="p", seed=0)
    return z


def test_stored_pass_round_trips_exactly(tmp_path):
    cache = PassCache(tmp_path)
    z = _store(cache)
    record = cache.load("ab" * 16)
    assert record is not None and record.data["pass_index"] == 0
    assert torch.equal(cache.latents(record), z)


def test_truncated_or_altered_latents_are_a_miss_logged_once(tmp_path, caplog):
    cache = PassCache(tmp_path)
    _store(cache)
    path = cache.dir("ab" * 16) / "latents.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated (a full disk, a bad copy)
    assert cache.load("ab" * 16) is None
    assert cache.load("ab" * 16) is None
    assert sum("corrupt" in r.message for r in caplog.records) == 1
    flipped = bytearray(data)
    flipped[-1] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(flipped))
    assert PassCache(tmp_path).load("ab" * 16) is None


def test_unreadable_record_is_a_miss(tmp_path):
    cache = PassCache(tmp_path)
    _store(cache)
    (cache.dir("ab" * 16) / "pass.json").write_text("{")
    assert cache.load("ab" * 16) is None


def test_damaged_video_is_dropped_not_the_pass(tmp_path):
    cache = PassCache(tmp_path)
    _store(cache)
    record = cache.load("ab" * 16)
    (record.folder / "video_fps8.mp4").write_bytes(b"0123")
    cache.add_file(record, "video_fps8.mp4")
    assert cache.load("ab" * 16).has("video_fps8.mp4")
    (record.folder / "video_fps8.mp4").write_bytes(b"012")
    again = cache.load("ab" * 16)
    assert again is not None and not again.has("video_fps8.mp4")


def test_add_file_keeps_files_added_by_another_job(tmp_path):
    cache = PassCache(tmp_path)
    _store(cache)
    mine, theirs = cache.load("ab" * 16), cache.load("ab" * 16)
    (mine.folder / "a.mp4").write_bytes(b"a")
    (mine.folder / "b.gif").write_bytes(b"b")
    cache.add_file(theirs, "b.gif")
    cache.add_file(mine, "a.mp4")
    files = json.loads((mine.folder / "pass.json").read_text())["files"]
    assert {"a.mp4", "b.gif", "latents.safetensors"} <= set(files)


def test_visit_removes_temp_files_of_killed_writers(tmp_path):
    cache = PassCache(tmp_path)
    _store(cache)
    from freqlab import atomic

    leftover = cache.dir("ab" * 16) / f".latents.safetensors.tmp-{atomic._HOST}-999999999-aa"
    leftover.write_bytes(b"half")
    assert cache.load("ab" * 16) is not None
    assert not leftover.exists()


def test_metric_values_are_keyed_by_identity(tmp_path):
    cache = MetricCache(tmp_path)
    pixel = {"column": "dino_consistency[pixel]", "metric": "dino_consistency", "encoder": "pixel"}
    dino = {**pixel, "column": "dino_consistency[dino_vits16]", "encoder": "dino_vits16"}
    cache.put("cd" * 16, metric_key(pixel), 91.5, pixel)
    assert cache.get("cd" * 16, metric_key(pixel)) == 91.5
    assert cache.get("cd" * 16, metric_key(dino)) is None
    assert cache.get("ef" * 16, metric_key(pixel)) is None
    assert metric_key({**dino, "weights": "file:a.pth:1:2"}) != metric_key(dino)


def test_corrupt_metric_value_is_a_miss(tmp_path):
    cache = MetricCache(tmp_path)
    identity = {"column": "motion", "metric": "motion", "encoder": None}
    cache.put("cd" * 16, metric_key(identity), 0.5, identity)
    path = next(cache.root.rglob("*.json"))
    path.write_text('{"value": ')
    assert cache.get("cd" * 16, metric_key(identity)) is None
