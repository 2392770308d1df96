"""experiments.plan: the plan of a job or sweep, checked against a UNet call counter."""

from __future__ import annotations

import experiments.generate as generate
import experiments.plan as plan
from freqlab.data import Prompt

TINY = [
    "model=testbed",
    "dataset=shapes",
    "dataset.limit=3",
    "model.num_frames=4",
    "metrics=pixel",  # the judge's metrics read 8-frame videos only
    "model.num_inference_steps=2",
    "batch_size=2",
    "logger=none",
    "report=false",
    "device=cpu",
]


SWEEP = [("freeinit.num_iters=1",), ("freeinit.num_iters=2",), ("freeinit.num_iters=3",)]


def test_plan_of_a_sweep_matches_what_it_then_does(tmp_path, job_config, unet_counter, capsys):
    def cfg(out: str, *overrides: str):
        return job_config(tmp_path, out, [*TINY, *overrides])

    before = [plan.run_plan(cfg(f"plan1/{i}", *o)) for i, o in enumerate(SWEEP)]
    assert unet_counter.loads == 0  # planning loads no model
    printed = capsys.readouterr().out
    assert "sweep so far (3 jobs)" in printed and "no time estimate" in printed
    # 3 prompts in batches of 2 (one batch of 2 and one of 1): every pass costs 2 batches x 2
    # steps; the sweep samples 3 passes per prompt in all, one new pass per job.
    assert [p["passes_to_generate"] for p in before] == [3, 3, 3]
    assert [p["unet_calls"] for p in before] == [4, 4, 4]
    assert [p["metric_values_to_compute"] for p in before] == [3 * 5] * 3

    done = [generate.run_generate(cfg(f"run/{i}", *o)) for i, o in enumerate(SWEEP)]
    assert [d["unet_calls"] for d in done] == [p["unet_calls"] for p in before]
    assert [d["passes_generated"] for d in done] == [p["passes_to_generate"] for p in before]
    assert [d["metric_values_computed"] for d in done] == [
        p["metric_values_to_compute"] for p in before
    ]
    assert unet_counter.calls == sum(p["unet_calls"] for p in before)

    loads = unet_counter.loads
    after = [plan.run_plan(cfg(f"plan2/{i}", *o)) for i, o in enumerate(SWEEP)]
    assert unet_counter.loads == loads
    assert [p["unet_calls"] for p in after] == [0, 0, 0]
    assert [p["passes_cached"] for p in after] == [3, 6, 9]
    assert [p["metric_values_to_compute"] for p in after] == [0, 0, 0]
    # Measured here by the generation jobs: the plan now estimates time (0 s: nothing to do).
    assert all(p["seconds_per_unet_call"] > 0 for p in after)
    assert after[-1]["estimated_unet_seconds"] == 0


def test_plan_counts_metrics_added_to_a_finished_job(tmp_path, job_config, unet_counter):
    def cfg(out: str, *overrides: str):
        return job_config(tmp_path, out, [*TINY, "freeinit.num_iters=2", *overrides])

    generate.run_generate(cfg("a", "metrics.names=[motion]"))
    calls = unet_counter.calls
    p = plan.run_plan(cfg("p", "metrics=pixel"))
    assert (p["unet_calls"], p["passes_to_generate"]) == (0, 0)
    assert p["metric_values_to_compute"] == 3 * 2 * 4  # 3 prompts x 2 passes x 4 new metrics
    done = generate.run_generate(cfg("b", "metrics=pixel"))
    assert done["metric_values_computed"] == p["metric_values_to_compute"]
    assert unet_counter.calls == calls


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


def test_judge_metrics_are_keyed_by_the_judge(monkeypatch):
    # testbed_accuracy's cached values come from the shipped judge: another judge, another key.
    from omegaconf import OmegaConf

    from experiments.metric_suite import MetricSuite
    from experiments.plan import metric_identities

    cfg = OmegaConf.create(dict(names=["testbed_accuracy", "motion"], encoder="pixel", weights={}))
    suite = MetricSuite.from_config(cfg)
    before = metric_identities(suite)
    assert "judge" in before["testbed_accuracy"] and "judge" not in before["motion"]
    monkeypatch.setattr("freqlab.testbed.judge.judge_digest", lambda: "0" * 16)
    after = metric_identities(suite)
    assert after["testbed_accuracy"] != before["testbed_accuracy"]
    assert after["motion"] == before["motion"]
