"""experiments.plan: the plan of a job or sweep, checked against a UNet call counter."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

import experiments.generate as generate
import experiments.plan as plan
from freqlab.data import Prompt

CONF = Path(__file__).resolve().parents[2] / "conf"
TINY = [
    "model=testbed",
    "dataset=shapes",
    "dataset.limit=3",
    "model.num_frames=4",
    "model.num_inference_steps=2",
    "batch_size=2",
    "logger=none",
    "report=false",
    "device=cpu",
]


def _cfg(root: Path, out: str, *overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[*TINY, *overrides])
    with open_dict(cfg):
        cfg.paths.root = str(root)
        cfg.paths.output_dir = str(root / out)
        cfg.paths.cache_dir = str(root / "cache")
    return cfg


@pytest.fixture
def unet_calls(monkeypatch):
    counter = [0]
    real = generate.load_model

    def load_and_count(*args, **kwargs):
        pipe = real(*args, **kwargs)
        pipe.unet.register_forward_pre_hook(
            lambda module, args: counter.__setitem__(0, counter[0] + 1)
        )
        return pipe

    monkeypatch.setattr(generate, "load_model", load_and_count)
    return counter


SWEEP = [("freeinit.num_iters=1",), ("freeinit.num_iters=2",), ("freeinit.num_iters=3",)]


def _plan_sweep(root: Path, name: str, monkeypatch) -> list[dict]:
    def no_model(*args, **kwargs):
        raise AssertionError("the plan must not load a model")

    monkeypatch.setattr(generate, "load_model", no_model)
    return [plan.run_plan(_cfg(root, f"{name}/{i}", *o)) for i, o in enumerate(SWEEP)]


def test_plan_of_a_sweep_matches_what_it_then_does(tmp_path, monkeypatch, capsys):
    before = _plan_sweep(tmp_path, "plan1", monkeypatch)
    printed = capsys.readouterr().out
    assert "sweep so far (3 jobs)" in printed and "no time estimate" in printed
    # 3 prompts in batches of 2 (one batch of 2 and one of 1): every pass costs 2 batches x 2
    # steps; the sweep samples 3 passes per prompt in all, one new pass per job.
    assert [p["passes_to_generate"] for p in before] == [3, 3, 3]
    assert [p["unet_calls"] for p in before] == [4, 4, 4]
    assert [p["metric_values_to_compute"] for p in before] == [3 * 5] * 3
    monkeypatch.undo()

    counter = [0]
    real = generate.load_model

    def load_and_count(*args, **kwargs):
        pipe = real(*args, **kwargs)
        pipe.unet.register_forward_pre_hook(lambda m, a: counter.__setitem__(0, counter[0] + 1))
        return pipe

    monkeypatch.setattr(generate, "load_model", load_and_count)
    done = [generate.run_generate(_cfg(tmp_path, f"run/{i}", *o)) for i, o in enumerate(SWEEP)]
    assert [d["unet_calls"] for d in done] == [p["unet_calls"] for p in before]
    assert [d["passes_generated"] for d in done] == [p["passes_to_generate"] for p in before]
    assert [d["metric_values_computed"] for d in done] == [
        p["metric_values_to_compute"] for p in before
    ]
    assert counter[0] == sum(p["unet_calls"] for p in before)

    after = _plan_sweep(tmp_path, "plan2", monkeypatch)
    assert [p["unet_calls"] for p in after] == [0, 0, 0]
    assert [p["passes_cached"] for p in after] == [3, 6, 9]
    assert [p["metric_values_to_compute"] for p in after] == [0, 0, 0]
    # Measured here by the generation jobs: the plan now estimates time (0 s: nothing to do).
    assert all(p["seconds_per_unet_call"] > 0 for p in after)
    assert after[-1]["estimated_unet_seconds"] == 0


def test_plan_counts_metrics_added_to_a_finished_job(tmp_path, unet_calls):
    generate.run_generate(_cfg(tmp_path, "a", "freeinit.num_iters=2", "metrics.names=[motion]"))
    calls = unet_calls[0]
    p = plan.run_plan(_cfg(tmp_path, "p", "freeinit.num_iters=2", "metrics=pixel"))
    assert (p["unet_calls"], p["passes_to_generate"]) == (0, 0)
    assert p["metric_values_to_compute"] == 3 * 2 * 4  # 3 prompts x 2 passes x 4 new metrics
    done = generate.run_generate(_cfg(tmp_path, "b", "freeinit.num_iters=2", "metrics=pixel"))
    assert done["metric_values_computed"] == p["metric_values_to_compute"]
    assert unet_calls[0] == calls


def test_batches_group_samples_by_their_first_missing_pass():
    def work(start: int) -> plan.SampleWork:
        sample = plan.Sample(Prompt("custom/0", "p", "custom"), 0, "k", ("a", "b", "c"))
        return plan.SampleWork(sample, [None] * 3, start, [{}, {}, {}])

    works = [work(s) for s in (0, 2, 0, 3, 0, 2)]
    batches = plan.generation_batches(works, batch_size=2)
    assert [[w.start for w in b] for b in batches] == [[0, 0], [0], [2, 2]]
    assert plan.unet_calls_of(batches, steps=[5, 10, 25]) == 40 + 40 + 25


def test_sample_folder_names_are_bounded_and_distinct():
    long_word = "x" * 300
    a = plan.sample_folder_name(7, long_word, 0)
    b = plan.sample_folder_name(7, long_word + "y", 0)
    assert a != b and len(a) < 70 and a.startswith("0007_") and a.endswith("_seed0")
    assert "/" not in plan.sample_folder_name(0, "a/b\\c: ../..", 1)
    assert plan.sample_folder_name(0, "日本語", 1).startswith("0000_prompt-")
