"""evaluation.results: the results schema (column groups, config rows, metric columns, video
paths) and merging results files into a sweep."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evaluation import results
from evaluation.results import CONFIG_COLUMNS, config_row, load_sweep

FREEINIT = dict(
    method="gaussian",
    d_s=0.25,
    d_t=0.25,
    order=4,
    num_iters=3,
    fast_sampling=False,
    variance_preserving=False,
    flow_sigma=0.96,
    renoise_timestep="auto",
    rng="per_sample",
)
SAMPLING = dict(
    num_frames=8, height=32, width=32, num_inference_steps=10, guidance_scale=7.5, dtype="float32"
)


def _config(**changes) -> dict:
    settings = dict(
        run=dict(model="testbed", dataset="shapes"),
        freeinit=FREEINIT,
        freeu=None,
        freqprior=None,
        bytheway=None,
        freenoise=None,
        freelong=None,
        sampling=SAMPLING,
    )
    return config_row(**(settings | changes))


def test_config_columns_match_the_runner(tmp_path):
    """The rows a generation job writes carry exactly the schema's config columns, in order."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from experiments.generate import _config_columns
    from experiments.settings import resolve

    GlobalHydra.instance().clear()
    conf = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("config", overrides=["freeu=model", "device=cpu"])
    with open_dict(cfg):
        cfg.paths.root = str(tmp_path)
        cfg.paths.output_dir = str(tmp_path / "out")
    columns = _config_columns(resolve(cfg), "shapes")
    assert list(columns) == list(CONFIG_COLUMNS)
    assert columns["freeu"] is True and columns["freeu_variant"] in ("v1", "v2")
    assert columns["dtype"] == "float32" and columns["model"] == "testbed"


def test_each_group_declares_its_columns_once():
    names = [c for g in results.GROUPS for c in g.names]
    assert len(names) == len(set(names)) and tuple(names) == CONFIG_COLUMNS
    assert not set(CONFIG_COLUMNS) & set(results.ID_COLUMNS)
    # the samplers' settings; FreqPrior's on/off too (its pass 0 is plain sampling)
    samplers = set(results.FREEINIT.names) | set(results.FREQPRIOR.names)
    assert set(results.REFINEMENT_COLUMNS) <= samplers and "freqprior" in results.REFINEMENT_COLUMNS
    # the noise protocol changes pass 0's stream; FreeNoise changes pass 0 itself
    assert not {"rng", "freqprior_rng", "freenoise"} & set(results.REFINEMENT_COLUMNS)
    assert results.FREEU_COLUMNS[0] == "freeu"


def test_config_row_fills_every_column_and_marks_a_method_off():
    off = _config()
    assert list(off) == list(CONFIG_COLUMNS)
    assert off["freeu"] is False and off["b1"] is None and off["freeu_stages"] is None
    on = _config(freeu=dict(b1=1.5, b2=1.6, s1=0.9, s2=0.2, variant="v2", stages="official"))
    assert on["freeu"] is True and on["freeu_variant"] == "v2" and on["freeu_stages"] == "official"
    assert on["method"] == "gaussian" and on["dtype"] == "float32"


def test_config_row_refuses_missing_or_unknown_groups():
    with pytest.raises(ValueError, match="missing \\['freeu'\\]"):
        config_row(
            run={},
            freeinit=FREEINIT,
            freqprior=None,
            bytheway=None,
            freenoise=None,
            freelong=None,
            sampling=SAMPLING,
        )
    with pytest.raises(ValueError, match="unknown \\['freelongg'\\]"):
        _config(freelongg={})
    with pytest.raises(KeyError, match="freeinit: settings lack rng"):
        _config(freeinit={k: v for k, v in FREEINIT.items() if k != "rng"})
    with pytest.raises(ValueError, match="sampling: settings are required"):
        _config(sampling=None)


def test_metric_columns_are_the_numeric_measurements():
    frame = pd.DataFrame(
        [_config() | dict(sample_key="a", seed=0, iteration=0, steps=10, is_final=True)]
    ).assign(**{"dino_consistency[pixel]": 80.0, "motion": 0.1, "flag": True, "_job": 0})
    assert results.metric_columns(frame) == ["dino_consistency[pixel]", "motion"]


def test_video_paths_resolve_against_the_results_folder(tmp_path):
    assert results.video_file(tmp_path, "videos/a/iter0.mp4") == tmp_path / "videos/a/iter0.mp4"
    assert results.video_file(tmp_path, "/data/old/iter0.mp4") == Path("/data/old/iter0.mp4")
    assert results.video_file(tmp_path, None) is None and results.video_file(tmp_path, "") is None


def _write(job: Path, frame: pd.DataFrame) -> None:
    job.mkdir(parents=True)
    frame.to_parquet(job / "results.parquet", index=False)


def test_load_sweep_merges_jobs_once_per_sample_and_fills_old_columns(tmp_path):
    rows = [
        _config()
        | dict(sample_key=f"s{p}", prompt_id=f"p{p}", prompt="x", seed=0, iteration=k)
        | dict(steps=10, is_final=k == 2, motion=float(p + k))
        for p in range(3)
        for k in range(3)
    ]
    frame = pd.DataFrame(rows)
    _write(tmp_path / "sweep" / "0", frame)
    _write(tmp_path / "sweep" / "1", frame[frame.prompt_id == "p1"])  # a re-run of one sample
    new_columns = [c for c in CONFIG_COLUMNS if c.startswith(("freqprior", "freenoise"))]
    old = frame.drop(columns=["dtype", "num_inference_steps", *new_columns])
    old = old.assign(sample_key="old")
    _write(tmp_path / "sweep" / "2", old[old.prompt_id == "p0"])  # an older file
    sweep = load_sweep(tmp_path / "sweep")
    assert len(sweep.jobs) == 3 and sweep.duplicates == 3 and len(sweep.frame) == 12
    assert sweep.metrics == ["motion"]
    older = sweep.frame[sweep.frame.sample_key == "old"]
    assert older.dtype.isna().all() and (older.num_inference_steps == older.steps).all()
    assert sweep.setting_columns == ["model", "dataset", "dtype"]
    # Files from before FreqPrior and FreeNoise: both off; FreeInit's cost summed over passes
    assert not older.freqprior.any() and not older.freenoise.any()
    assert older.freqprior_mid_step.isna().all()
    assert older.sort_values("iteration").unet_steps.tolist() == [10, 20, 30]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_sweep(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no results.parquet"):
        load_sweep(tmp_path / "sweep", exclude=[tmp_path / "sweep"])
