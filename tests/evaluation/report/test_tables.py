"""evaluation.report.tables: paper Table 1, ablations, iterations, LaTeX, significance marks."""

from __future__ import annotations

import re

from evaluation import paper_numbers
from evaluation.report import Delta, build_report, latex_escape

DINO = "dino_consistency[dino_vits16]"


def test_table1_puts_the_paper_numbers_beside_ours(tmp_path, rows, write_job):
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


def test_paper_numbers_only_where_they_apply(tmp_path, rows, write_job):
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


def test_iteration_table_and_latex_escaping(tmp_path, rows, write_job):
    write_job(tmp_path / "0", rows())
    report = build_report(tmp_path, n_resamples=200)
    table = report.table("iterations_dino_consistency-dino_vits16")
    assert table.header[-1] == "UNet steps (cumulative)"
    assert table.rows[0][-1] == "25/50/75/100/125"
    assert re.fullmatch(r"\d+\.\d\d \(\+\d\.\d\d \[[+-]\d\.\d\d, \+\d\.\d\d\]\)", table.rows[0][-2])
    assert latex_escape("a_b & 50% #1 {x} Δ") == r"a\_b \& 50\% \#1 \{x\} $\Delta$"


def test_no_significance_mark_below_the_minimum_number_of_pairs(tmp_path, rows, write_job, prompts):
    from evaluation.report import MIN_PAIRS

    write_job(tmp_path / "0", rows(prompts=prompts[:2], gain=20.0))  # n = 2, a clear gain
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


def test_freqprior_arms_are_named_and_counted_as_they_ran(tmp_path, rows, write_job):
    # FreeInit (3 passes) and FreqPrior (4 passes, FreeInit off) on the same prompts and seeds.
    freeinit = rows(num_iters=3, method="butterworth")
    freeinit["unet_steps"] = (freeinit.iteration + 1) * 25
    freqprior = rows(num_iters=4, method="butterworth", gain=7.0)
    freqprior = freqprior.assign(
        num_iters=1,
        freqprior=True,
        freqprior_num_iters=4,
        freqprior_ratio=0.8,
        freqprior_mid_step=321,
        freqprior_method="butterworth",
        freqprior_d_s=0.25,
        freqprior_d_t=0.25,
        freqprior_order=4,
        freqprior_rng="per_sample",
        unet_steps=25 + 16 * freqprior.iteration,  # earlier passes stop at mid_step
    )
    write_job(tmp_path / "0", freeinit)
    write_job(tmp_path / "1", freqprior)
    report = build_report(tmp_path, n_resamples=300)
    table = report.table("table1_dino_consistency-dino_vits16")
    assert table.title == f"Baseline vs FreeInit / FreqPrior: {DINO}"
    names = [row[0] for row in table.rows]
    assert names[1] == "+ FreeInit (num_iters=3)"
    assert (
        names[3].startswith("+ FreqPrior (freqprior_num_iters=4, ")
        and "num_iters=1" not in names[3]
    )
    iterations = report.table("iterations_dino_consistency-dino_vits16")
    steps = [row[-1] for row in iterations.rows]
    assert steps == ["25/50/75", "25/41/57/73"]
    assert "each FreeInit / FreqPrior iteration" in iterations.notes[0]
