"""evaluation.report on synthetic sweeps: merging, pairing, bootstrap CIs, tables, CLI, HTML.

The HTML test renders report.html in headless Chromium (Debian's `chromium`, installed by
`make test`) and reads the DOM back after load: every image decoded, tables and gallery present.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation import paper_numbers
from evaluation.report import (
    CONFIG_COLUMNS,
    Delta,
    build_report,
    freeinit_differences,
    latex_escape,
    load_sweep,
    main,
    paired_bootstrap_ci,
    write_report,
)

DINO = "dino_consistency[dino_vits16]"
PROMPTS = tuple(f"ucf101/Class{i:02d}" for i in range(12))


def _noise(*parts: object) -> float:
    """A deterministic N(0, 1) draw per key (no global RNG, no hash randomisation)."""
    return float(np.random.default_rng(zlib.crc32(repr(parts).encode())).standard_normal())


def _gif(path: Path, shade: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.new("RGB", (32, 16), (shade, 40 * t % 256, 90)) for t in range(4)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=125, loop=0)


def _mp4(path: Path, shade: int) -> None:
    import torch

    from freqlab.video_io import save_video

    frames = torch.full((4, 3, 16, 32), shade / 255.0)
    frames[:, 1] = torch.arange(4).view(4, 1, 1) / 4.0
    save_video(frames, path, 8)


def rows(
    *,
    model: str = "animatediff_v1",
    dataset: str = "ucf101",
    method: str = "gaussian",
    d0: float = 0.25,
    num_iters: int = 5,
    fast: bool = False,
    freeu: bool = False,
    prompts: tuple[str, ...] = PROMPTS,
    seeds: tuple[int, ...] = (0,),
    steps: int = 25,
    gain: float = 6.0,
    cache: Path | None = None,
    job: Path | None = None,
) -> pd.DataFrame:
    """Results rows shaped like experiments.generate's: consistency rises by ``gain`` over the
    passes, motion falls; a coarse pass 0 (fast sampling) is 10 points worse.

    Videos: with ``job``, as the runner writes them now (``videos/<sample>/`` in the job folder,
    paths relative to it, an MP4 per pass and the comparison GIF of multi-pass samples); with
    ``cache``, as older results files hold them (absolute paths, GIFs only)."""
    out = []
    identity = (model, dataset, method, d0, num_iters, fast, freeu)
    for prompt in prompts:
        for seed in seeds:
            key = f"{zlib.crc32(repr((identity, prompt, seed)).encode()):08x}"
            base = 80 + 5 * _noise(model, dataset, prompt, seed) + (3 if freeu else 0)
            last = num_iters - 1
            gif = f"iter0_vs_iter{last}.gif" if last else None
            if cache is not None:
                folder = cache / key
                if gif:
                    _gif(folder / gif, int(base) % 256)
            elif job is not None:
                folder = Path("videos") / key
                for k in range(num_iters):
                    _mp4(job / folder / f"iter{k}.mp4", int(base) % 256)
                if gif:
                    _gif(job / folder / gif, int(base) % 256)
            else:
                folder = None
            for k in range(num_iters):
                coarse = fast and k < last
                n_steps = max(1, int(steps / num_iters * (k + 1))) if fast else steps
                value = base + (gain * k / max(last, 1) + 0.5 * _noise(key, k) if k else 0)
                out.append(
                    dict(
                        sample_key=key,
                        prompt_id=prompt,
                        prompt=f"a video of {prompt}",
                        seed=seed,
                        is_final=k == last,
                        model=model,
                        dataset=dataset,
                        method=method,
                        d_s=d0,
                        d_t=d0,
                        order=4,
                        num_iters=num_iters,
                        fast_sampling=fast,
                        variance_preserving=False,
                        rng="per_sample",
                        freeu=freeu,
                        b1=1.2 if freeu else None,
                        b2=1.4 if freeu else None,
                        s1=0.9 if freeu else None,
                        s2=0.2 if freeu else None,
                        freeu_variant="v1" if freeu else None,
                        freeu_stages="diffusers" if freeu else None,
                        num_frames=16,
                        height=512,
                        width=512,
                        num_inference_steps=steps,
                        guidance_scale=7.5,
                        dtype="float32",
                        iteration=k,
                        steps=n_steps,
                        **{DINO: value - (10 if coarse and k == 0 else 0)},
                        motion=0.2 - 0.01 * k + 0.01 * _noise("m", key),
                        video_path=str(folder / f"iter{k}.mp4") if folder else None,
                        comparison_path=str(folder / gif) if folder and gif else None,
                    )
                )
    return pd.DataFrame(out)


def write_job(job: Path, frame: pd.DataFrame, overrides: list[str] = ()) -> Path:
    (job / ".hydra").mkdir(parents=True, exist_ok=True)
    frame.to_parquet(job / "results.parquet", index=False)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (job / ".hydra" / "config.yaml").write_text("task: generate\nseed: 0\n")
    n = frame.sample_key.nunique()
    summary = dict(samples=n, generated=n, cached=0, unet_calls=int(frame.steps.sum()), seconds=1)
    (job / "job.json").write_text(json.dumps(summary))
    return job


def test_config_columns_match_the_runner():
    from experiments.generate import CONFIG_COLUMNS as RUNNER

    assert set(CONFIG_COLUMNS) == set(RUNNER)


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_equals_a_plain_resampling_loop():
    x = np.random.default_rng(1).normal(2.0, 1.0, size=(40, 3))
    ci = paired_bootstrap_ci(x, n_resamples=2000, seed=7)
    idx = np.random.default_rng(7).integers(0, 40, size=(2000, 40))
    means = np.stack([x[i].mean(axis=0) for i in idx])
    np.testing.assert_allclose(ci.mean, x.mean(axis=0))
    np.testing.assert_allclose(ci.low, np.quantile(means, 0.025, axis=0))
    np.testing.assert_allclose(ci.high, np.quantile(means, 0.975, axis=0))


def test_bootstrap_interval_behaves():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 50), rng.normal(1.0, 1.0, 800)
    a, b = paired_bootstrap_ci(small), paired_bootstrap_ci(large)
    assert a.low[0] < 1.0 < a.high[0] and b.low[0] < 1.0 < b.high[0]
    width = lambda c: c.high[0] - c.low[0]  # noqa: E731
    assert 0.15 < width(b) / width(a) < 0.4  # ~ sqrt(50 / 800) = 0.25
    assert paired_bootstrap_ci(small, seed=3).low == paired_bootstrap_ci(small, seed=3).low
    const = paired_bootstrap_ci(np.full(10, 0.5))
    assert const.low[0] == const.high[0] == 0.5
    one = paired_bootstrap_ci([2.0])
    assert one.mean[0] == 2.0 and np.isnan(one.low[0]) and one.n[0] == 1
    # NaNs drop per column: the second column uses its 3 finite pairs only
    mixed = paired_bootstrap_ci(np.array([[1.0, 1.0], [2.0, np.nan], [3.0, 3.0], [4.0, 5.0]]))
    assert list(mixed.n) == [4, 3] and mixed.mean[1] == 3.0


@pytest.mark.parametrize(
    "kwargs, key",
    [(dict(confidence=1.5), "confidence"), (dict(n_resamples=0), "n_resamples")],
)
def test_bootstrap_rejects_bad_arguments(kwargs, key):
    with pytest.raises(ValueError, match=key):
        paired_bootstrap_ci([1.0, 2.0], **kwargs)


# --------------------------------------------------------------------------- merging, pairing


def test_merges_shards_and_jobs_and_drops_duplicates(tmp_path):
    full = rows()
    shard0, shard1 = full[full.prompt_id.isin(PROMPTS[:6])], full[full.prompt_id.isin(PROMPTS[6:])]
    write_job(tmp_path / "sweep" / "0", shard0, ["dataset.shard=0"])
    write_job(tmp_path / "sweep" / "1", shard1, ["dataset.shard=1"])
    write_job(tmp_path / "sweep" / "rerun" / "0", shard1)  # the same samples again
    write_job(tmp_path / "sweep" / "2", rows(method="butterworth"))
    sweep = load_sweep(tmp_path / "sweep")
    assert len(sweep.jobs) == 4 and sweep.duplicates == len(shard1)
    assert sweep.setting_columns == ["model", "dataset", "method"]
    assert sweep.metrics == [DINO, "motion"]
    diffs = freeinit_differences(sweep, n_resamples=500)
    final = diffs[diffs.final & (diffs.metric == DINO)].set_index("method")
    assert final.loc["gaussian", "n"] == final.loc["butterworth", "n"] == len(PROMPTS)
    # the mean difference is the plain mean of per-video differences
    f = sweep.frame[sweep.frame.method == "gaussian"].pivot(index="prompt_id", columns="iteration")
    assert final.loc["gaussian", "delta"] == pytest.approx((f[DINO][4] - f[DINO][0]).mean())
    assert final.loc["gaussian", "ci_low"] > 0  # gain 6, noise 0.5
    assert final.loc["gaussian", "steps"] == 5 * 25


def test_coarse_to_fine_is_paired_with_the_full_step_baseline(tmp_path):
    write_job(tmp_path / "0", rows(fast=False))
    write_job(tmp_path / "1", rows(fast=True))
    diffs = freeinit_differences(load_sweep(tmp_path), n_resamples=200)
    d = diffs[(diffs.metric == DINO) & diffs.final].set_index("fast_sampling")
    # the coarse pass 0 is 10 points worse; pairing with it would inflate the gain
    assert d.loc[True, "baseline"] == pytest.approx(d.loc[False, "baseline"])
    assert d.loc[True, "delta"] == pytest.approx(d.loc[False, "delta"], abs=1.0)
    assert d.loc[True, "baseline_source"].startswith("iteration 0 of")
    assert d.loc[True, "steps"] < d.loc[False, "steps"]
    # alone, a coarse run falls back on its own pass 0 and says so
    write_job(tmp_path / "alone", rows(fast=True))
    alone = freeinit_differences(load_sweep(tmp_path / "alone"), n_resamples=200)
    assert alone.baseline_source.iloc[0].startswith("pass 0 (coarse")


def test_freeu_arms_against_plain_sampling(tmp_path):
    write_job(tmp_path / "0", rows(freeu=False))
    write_job(tmp_path / "1", rows(freeu=True))
    report = build_report(tmp_path, n_resamples=300)
    arms = report.freeu_differences
    arms = arms[arms.metric == DINO].set_index("arm")
    assert list(arms.index) == ["plain sampling", "FreeInit", "FreeU", "FreeU + FreeInit"]
    assert arms.loc["FreeU", "delta"] == pytest.approx(3.0)
    assert arms.loc["FreeU + FreeInit", "delta"] == pytest.approx(9.0, abs=0.5)
    table = report.table("freeu_dino_consistency-dino_vits16").to_markdown()
    assert "FreeU + FreeInit" in table and "+3.00 [+3.00, +3.00]" in table


# --------------------------------------------------------------------------- tables


def test_table1_puts_the_paper_numbers_beside_ours(tmp_path):
    for i, (model, dataset) in enumerate(
        [(m, d) for m in ("animatediff_v1", "modelscope") for d in ("ucf101", "msrvtt")]
    ):
        write_job(tmp_path / str(i), rows(model=model, dataset=dataset))
    report = build_report(tmp_path, n_resamples=300)
    table = report.table("table1_dino_consistency-dino_vits16")
    assert table.header == [
        "Method",
        *("UCF-101", "UCF-101 Δ [95% CI]", "UCF-101 paper"),
        *("MSR-VTT", "MSR-VTT Δ [95% CI]", "MSR-VTT paper"),
    ]
    cells = {row[0]: row for row in table.rows}
    assert [r[0] for r in table.rows] == [
        "animatediff_v1",
        "+ FreeInit",
        "modelscope",
        "+ FreeInit",
    ]
    assert table.rows[0][3] == "85.24" and table.rows[0][6] == "83.24"
    assert table.rows[1][3] == "92.01" and table.rows[3][6] == "93.28"
    assert isinstance(table.rows[1][2], Delta) and table.rows[1][2].significant
    assert "modelscope" in cells
    md, tex = table.to_markdown(), table.to_latex()
    assert "| animatediff_v1 |" in md and "secondary notes" in md
    assert "\\toprule" in tex and "\\_" in tex and "$\\Delta$" in tex
    assert "paper_numbers" in " ".join(table.notes)


def test_paper_numbers_only_where_they_apply(tmp_path):
    write_job(tmp_path / "0", rows(d0=0.5))  # not the paper's FreeInit setting
    write_job(tmp_path / "1", rows(d0=0.25))
    write_job(tmp_path / "2", rows(method="ideal"))
    report = build_report(tmp_path, n_resamples=200)
    ablation = report.table("ablation_dino_consistency-dino_vits16")
    paper = {(r[0], r[1]): r[-1] for r in ablation.rows}  # (method, d_s) -> paper
    assert paper[("gaussian", "0.5")] == ""
    assert paper[("gaussian", "0.25")] == "92.01"
    assert paper[("ideal", "0.25")] == "87.53"  # ILPF, filter ablation
    assert paper_numbers.reported("tiny_animatediff", "ucf101", DINO, "baseline") is None
    assert (
        paper_numbers.reported("animatediff_v1", "ucf101", "dino_consistency[pixel]", "baseline")
        is None
    )
    assert paper_numbers.REPORTED[("AnimateDiff", "ucf101", "baseline")].confirmed


def test_iteration_table_and_latex_escaping(tmp_path):
    write_job(tmp_path / "0", rows())
    report = build_report(tmp_path, n_resamples=200)
    table = report.table("iterations_dino_consistency-dino_vits16")
    assert table.header[-1] == "UNet steps (cumulative)"
    assert table.rows[0][-1] == "25/50/75/100/125"
    assert re.fullmatch(r"\d+\.\d\d \(\+\d\.\d\d \[[+-]\d\.\d\d, \+\d\.\d\d\]\)", table.rows[0][-2])
    assert latex_escape("a_b & 50% #1 {x} Δ") == r"a\_b \& 50\% \#1 \{x\} $\Delta$"


# --------------------------------------------------------------------------- files, CLI, HTML


def test_cli_writes_every_file_and_ignores_its_own_output(tmp_path, capsys):
    write_job(tmp_path / "sweep" / "0", rows(cache=tmp_path / "cache"))
    write_job(tmp_path / "sweep" / "1", rows(method="box", cache=tmp_path / "cache"))
    assert main([str(tmp_path / "sweep"), "--resamples", "200"]) == 0
    out = tmp_path / "sweep" / "report"
    for name in ("tables.md", "tables.tex", "differences.csv", "results_merged.parquet"):
        assert (out / name).stat().st_size > 0
    assert {p.name for p in (out / "plots").iterdir()} == {
        "metric_vs_iteration.png",
        "consistency_vs_motion.png",
    }
    assert (out / "tables" / "table1_dino_consistency-dino_vits16.tex").is_file()
    assert "Baseline vs FreeInit" in capsys.readouterr().out
    # a second run does not read results_merged.parquet back in
    assert (
        main([str(tmp_path / "sweep"), "--resamples", "200", "--no-html", "--confidence", "0.9"])
        == 0
    )
    assert "(0 duplicates dropped)" in capsys.readouterr().out
    assert "Δ [90% CI]" in (out / "tables.md").read_text()
    assert main([str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().err


def _chromium() -> str | None:
    return next(
        (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
    )


_PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  document.body.setAttribute("data-images", imgs.length);
  document.body.setAttribute("data-decoded", imgs.filter(i => i.complete && i.naturalWidth > 0).length);
  document.body.setAttribute("data-tables", document.querySelectorAll("table").length);
  document.body.setAttribute("data-cards", document.querySelectorAll(".card img.video").length);
});
</script></body>"""


def _render(page: Path, browser: str, profile: Path) -> dict[str, int]:
    """Load ``page`` in headless Chromium; the probe's counts after the load event."""
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", _PROBE))
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[-2000:]
    return {k: int(v) for k, v in re.findall(r'data-(\w+)="(\d+)"', body.group(1))}


@pytest.mark.parametrize("videos", ["inline", "copy"])
def test_html_report_loads_in_headless_chromium(tmp_path, videos):
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "chromium not installed: `make test` installs Debian's chromium with apt-get when "
            "run as root (apt-get install -y chromium)"
        )
    cache = tmp_path / "cache"
    write_job(tmp_path / "sweep" / "0", rows(cache=cache), ["freeinit.method=gaussian"])
    write_job(tmp_path / "sweep" / "1", rows(freeu=True, cache=cache), ["freeu=model"])
    (tmp_path / "sweep" / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task: [experiment=freeinit_x_freeu]\n"
        "  sweeper:\n    params: {freeu: 'off,model'}\n"
    )
    report = build_report(tmp_path / "sweep", n_resamples=200)
    files = write_report(report, tmp_path / "out", gallery=4, videos=videos)
    page = files["html"].read_text()
    # self-contained: nothing from the network or outside the report folder
    sources = re.findall(r'(?:src|href)="([^"#][^"]*)"', page)
    assert sources and all(s.startswith("data:") or s.startswith("videos/") for s in sources)
    assert page.count('class="card"') == 8  # 2 settings x 4 videos
    assert "python run.py -m experiment=freeinit_x_freeu" in page
    assert "freeu: off,model" in page and "FreeU + FreeInit" in page
    shutil.rmtree(cache)  # the report must not need the cache any more
    counts = _render(files["html"], browser, tmp_path / "profile")
    assert counts["cards"] == 8
    assert counts["images"] == 8 + len(report.figures)
    assert counts["decoded"] == counts["images"]
    assert counts["tables"] >= len(report.tables)


# --------------------------------------------------------------------------- issue 13: honest report


def test_no_significance_mark_below_the_minimum_number_of_pairs(tmp_path):
    from evaluation.report import MIN_PAIRS

    write_job(tmp_path / "0", rows(prompts=PROMPTS[:2], gain=20.0))  # n = 2, a clear gain
    report = build_report(tmp_path, n_resamples=200)
    table = report.table("table1_dino_consistency-dino_vits16")
    delta = table.rows[1][2]
    assert isinstance(delta, Delta) and delta.n == 2 and delta.low > 0
    assert not delta.significant  # the interval excludes 0, but from 2 pairs
    for t in report.tables:
        md, tex = t.to_markdown(), t.to_latex()
        assert " *" not in md.replace("\\*", "") and "$^*$" not in tex
    assert any("too narrow" in n and "none of them is marked" in n for n in table.notes)
    assert Delta(1.0, 0.5, 1.5, n=MIN_PAIRS).significant
    assert not Delta(1.0, 0.5, 1.5, n=MIN_PAIRS - 1).significant


def _errorbar_data(ax) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(x, y, colour) of each error-bar line of an axis (the data lines, not the 0 line)."""
    from matplotlib.colors import to_hex

    return [
        (
            np.asarray(line.get_xdata(), dtype=float),
            np.asarray(line.get_ydata(), dtype=float),
            to_hex(line.get_color()),
        )
        for line in ax.get_lines()
        if line.get_marker() == "o"
    ]


def test_iteration_plot_draws_the_paired_change_with_its_own_ci(tmp_path):
    write_job(tmp_path / "0", rows())
    write_job(tmp_path / "1", rows(method="box", gain=3.0))
    report = build_report(tmp_path, n_resamples=300)
    fig = report.figures["metric_vs_iteration"]
    d = report.differences
    for ax, metric in zip(fig.axes, report.sweep.metrics, strict=False):
        lines = _errorbar_data(ax)
        assert len(lines) == 2
        for (_, y, _), method in zip(lines, ("gaussian", "box"), strict=True):
            own = d[(d.metric == metric) & (d.method == method)].sort_values("iteration")
            np.testing.assert_allclose(y, own.delta)  # the change, not the absolute mean
            assert y[0] == 0.0
        # the error bars are the change's own CI: they bracket y and stay near 0, far from
        # the absolute mean (about 80 for the consistency)
        segments = [c for c in ax.collections if c.get_segments()]
        for seg in (s for c in segments for s in c.get_segments()):
            assert seg[:, 1].max() < 20
    assert "paired bootstrap CI" in fig._suptitle.get_text()
    assert "Δ vs baseline" in fig.axes[0].get_ylabel()


def test_same_setting_same_colour_and_a_legend_of_drawn_lines_only(tmp_path):
    write_job(tmp_path / "0", rows())
    write_job(tmp_path / "1", rows(method="box"))
    write_job(tmp_path / "2", rows(model="modelscope"))
    report = build_report(tmp_path, n_resamples=200)
    fig = report.figures["metric_vs_iteration"]
    per_panel = [[c for *_, c in _errorbar_data(ax)] for ax in fig.axes[:2]]
    assert per_panel[0] == per_panel[1] and len(set(per_panel[0])) == 3
    legend = fig.legends[0]
    assert len(legend.get_texts()) == 3
    # the motion plot: each setting keeps its colour from the iteration plot
    from matplotlib.colors import to_hex

    from evaluation.report import setting_colours

    colours = setting_colours(report.sweep)
    motion = report.figures["consistency_vs_motion"]
    for ax in motion.axes:
        for collection in ax.collections:
            label = collection.get_label()
            if label.startswith("FreeInit "):
                setting = f"{ax.get_title()}, {label.removeprefix('FreeInit ')}"
                assert to_hex(collection.get_facecolor()[0]) == to_hex(colours[setting])


def test_equal_settings_stay_visible_side_by_side(tmp_path):
    # num_iters 3 and 5 share passes 0-2 (the pass-level cache): equal values, both drawn
    five = rows(num_iters=5)
    three = five[five.iteration < 3].assign(num_iters=3, is_final=lambda f: f.iteration == 2)
    three = three.assign(sample_key=three.sample_key + "-3")
    write_job(tmp_path / "0", five)
    write_job(tmp_path / "1", three)
    report = build_report(tmp_path, n_resamples=200)
    lines = _errorbar_data(report.figures["metric_vs_iteration"].axes[0])
    (x5, y5, c5), (x3, y3, c3) = lines
    np.testing.assert_allclose(y5[:3], y3)
    assert c5 != c3 and np.all(x5[:3] != x3)  # offset along x, not hidden behind each other
    assert len(report.figures["metric_vs_iteration"].legends[0].get_texts()) == 2


def test_html_resolves_relative_videos_and_shows_one_pass_runs_alone(tmp_path):
    sweep = tmp_path / "sweep"
    write_job(sweep / "0", rows(job=sweep / "0", prompts=PROMPTS[:3]))
    write_job(sweep / "1", rows(job=sweep / "1", prompts=PROMPTS[:3], num_iters=1))
    moved = tmp_path / "moved"
    shutil.move(sweep, moved)  # relative paths: the folder can move
    report = build_report(moved, n_resamples=200)
    page = write_report(report, tmp_path / "out", gallery=None)["html"].read_text()
    assert "video not on disk" not in page and "no video saved" not in page
    assert page.count('class="video"') == 6
    assert "iteration 0 | iteration 0" not in page.replace("</span><span>", " | ")
    assert page.count("<span>iteration 0 (the only pass)</span>") == 3
    assert "One sampling pass: no FreeInit refinement to compare with." in page
    assert "largest gain" not in page and "prompt and seed order" in page
    assert "not necessarily better" in page
    # a one-pass card has no Δ column
    one = page[page.index("iteration 0 (the only pass)") :]
    one = one[: one.index('<div class="card">') if '<div class="card">' in one else None]
    assert "<th>Δ</th>" not in one


def test_gallery_is_in_prompt_order_not_ranked_by_gain(tmp_path):
    write_job(tmp_path / "0", rows(cache=tmp_path / "cache"))
    report = build_report(tmp_path / "0", n_resamples=200)
    page = write_report(report, tmp_path / "out", gallery=None)["html"].read_text()
    shown = re.findall(r'<p class="prompt"><b>([^<]+)</b>', page)
    assert shown == sorted(PROMPTS)


def test_delta_table_wraps_instead_of_overflowing(tmp_path):
    from evaluation.report_html import _CSS, table_html

    write_job(tmp_path / "0", rows())
    report = build_report(tmp_path, n_resamples=200)
    html = table_html(report.table("freeinit_vs_baseline"))
    assert html.count("<br>[") == len(report.sweep.metrics)  # CI under its mean
    assert "Δ motion" in html
    assert "th { white-space: normal" in _CSS
