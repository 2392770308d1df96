"""The report's tables: paper Table 1, FreeInit - baseline for every metric, metric vs iteration,
ablations and FreeU x FreeInit; each a :class:`Table` rendered as markdown, LaTeX or a frame.

Differences are cells (:class:`Delta`) with their CI, marked significant only where the CI
excludes 0 from at least :data:`~evaluation.report.statistics.MIN_PAIRS` pairs. The paper's
reported numbers (:mod:`evaluation.paper_numbers`) stand beside ours where they exist.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evaluation import paper_numbers
from evaluation.report.pairing import FREEU_ARMS
from evaluation.report.statistics import MIN_PAIRS
from evaluation.results import (
    CONFIG_COLUMNS,
    DATASET_NAMES,
    FREEINIT_COLUMNS,
    FREQPRIOR_COLUMNS,
    SAMPLER_COLUMNS,
    Sweep,
    fmt,
)


@dataclass(frozen=True)
class Delta:
    """A table cell: a mean difference and its CI, printed ``+1.23 [+0.45, +2.01]``."""

    delta: float
    low: float
    high: float
    digits: int = 2
    n: int | None = None  # pairs behind the interval

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0, from at least :data:`MIN_PAIRS` pairs (with fewer,
        the bootstrap interval is too narrow to mark anything)."""
        if self.n is not None and self.n < MIN_PAIRS:
            return False
        return bool(self.low > 0 or self.high < 0)

    def __str__(self) -> str:
        d = self.digits
        if math.isnan(self.delta):
            return "-"
        if math.isnan(self.low):
            return f"{self.delta:+.{d}f}"
        return f"{self.delta:+.{d}f} [{self.low:+.{d}f}, {self.high:+.{d}f}]"


Cell = str | Delta


@dataclass
class Table:
    """A report table: header, rows of cells, notes; rendered as markdown, LaTeX or a frame."""

    name: str  # file stem
    title: str
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    metric: str | None = None  # the metric it is about, None for several
    ci: str = "95% CI"  # what the intervals are

    def to_markdown(self) -> str:
        """A GitHub-flavoured markdown table, title as a heading, notes below."""

        def cell(c: Cell) -> str:
            text = str(c) + (" *" if isinstance(c, Delta) and c.significant else "")
            return text.replace("|", "\\|")

        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(cell(h) for h in self.header) + " |")
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self.rows]
        notes = [*self.notes]
        if any(isinstance(c, Delta) and c.significant for row in self.rows for c in row):
            notes.append(f"\\* the {self.ci} excludes 0 (marked from {MIN_PAIRS} pairs on).")
        return "\n".join(lines + [""] + [f"{n}  " for n in notes]).rstrip() + "\n"

    def to_latex(self) -> str:
        """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""

        def cell(c: Cell) -> str:
            text = latex_escape(str(c))
            return text + ("$^*$" if isinstance(c, Delta) and c.significant else "")

        spec = "l" + "r" * (len(self.header) - 1)
        lines = [
            "\\begin{table}[t]",
            "\\centering",
            "\\small",
            f"\\caption{{{latex_escape(self.title)}}}",
            f"\\label{{tab:{self.name}}}",
            f"\\begin{{tabular}}{{{spec}}}",
            "\\toprule",
            " & ".join(latex_escape(h) for h in self.header) + " \\\\",
            "\\midrule",
            *(" & ".join(cell(c) for c in row) + " \\\\" for row in self.rows),
            "\\bottomrule",
            "\\end{tabular}",
        ]
        notes = [*self.notes]
        if any(isinstance(c, Delta) and c.significant for row in self.rows for c in row):
            notes.append(
                f"$^*$ the {latex_escape(self.ci)} excludes 0 (marked from {MIN_PAIRS} pairs on)."
            )
        if notes:
            text = " ".join(n if n.startswith("$^*$") else latex_escape(n) for n in notes)
            lines.append(f"\\par\\smallskip\\footnotesize {text}")
        lines.append("\\end{table}")
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        """The table as strings, for a notebook."""
        return pd.DataFrame([[str(c) for c in row] for row in self.rows], columns=self.header)


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "Δ": r"$\Delta$",
    "×": r"$\times$",
    "≥": r"$\geq$",
    "–": "--",
    "…": r"\ldots{}",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX.get(ch, ch) for ch in text)


def slug(text: str) -> str:
    """A file-name-safe form of a metric name: ``dino_consistency-pixel``."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-")


def _small_n(n: pd.Series, minimum: int = MIN_PAIRS) -> list[str]:
    if len(n) and n.min() < minimum:
        return [
            f"Some rows pair fewer than {minimum} videos: their bootstrap CIs are too narrow, "
            "and none of them is marked significant."
        ]
    return []


def _digits(values: Iterable[float]) -> int:
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    scale = max(finite, default=0.0)
    return 2 if scale >= 10 else 3 if scale >= 1 else 4


def _num(value: float, digits: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def frame_groups(
    frame: pd.DataFrame, columns: list[str]
) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """Sub-frames by ``columns`` in order of appearance (all of it when there are none)."""
    if not columns:
        yield {}, frame
        return
    for values, group in frame.groupby(columns, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(columns, values, strict=True)), group


def _paper_cell(model: str, dataset: str, metric: str, arm: str | None) -> str:
    number = paper_numbers.reported(model, dataset, metric, arm) if arm else None
    return "" if number is None else f"{number.value:.2f}"


def table1(sweep: Sweep, diffs: pd.DataFrame, metric: str, ci: str = "95% CI") -> Table:
    """Paper Table 1 layout: per model a baseline row and a row per FreeInit variant, per dataset
    the mean, FreeInit - baseline with its CI, and the paper's number where there is one."""
    final = diffs[(diffs.metric == metric) & diffs.final]
    datasets = list(dict.fromkeys(final.dataset))
    context = [c for c in sweep.setting_columns if c not in ("model", "dataset", *SAMPLER_COLUMNS)]
    variant = [c for c in sweep.setting_columns if c in SAMPLER_COLUMNS]
    refiners = sweep.samplers(final)
    digits = _digits(final.baseline)
    paper = any(
        paper_numbers.reported(m, d, metric, "baseline") is not None
        for m in final.model.unique()
        for d in datasets
    )
    header = ["Method"]
    for d in datasets:
        name = DATASET_NAMES.get(d, d)
        header += [name, f"{name} Δ [{ci}]"] + ([f"{name} paper"] if paper else [])
    rows: list[list[Cell]] = []
    ns = {d: set() for d in datasets}
    for values, group in frame_groups(final, ["model", *context]):
        model = values["model"]
        ctx = sweep.label(values, context)
        row: list[Cell] = [f"{model} ({ctx})" if ctx else model]
        for d in datasets:
            cell = group[group.dataset == d]
            baseline = cell.baseline.iloc[0] if len(cell) else float("nan")
            freeu = bool(cell.freeu.iloc[0]) if "freeu" in cell and len(cell) else False
            row += [_num(baseline, digits), ""]
            if paper:
                row.append("" if freeu else _paper_cell(model, d, metric, "baseline"))
        rows.append(row)
        for vals, v in frame_groups(group, variant):
            if v.iteration.max() == 0:
                continue  # no refinement: the baseline row says it all
            sampler = sweep.sampler(v.iloc[0])
            # Each arm is labelled by its own loop's settings (FreqPrior runs FreeInit off).
            own = FREQPRIOR_COLUMNS if sampler == "FreqPrior" else FREEINIT_COLUMNS
            label = sweep.label(vals, [c for c in variant if c in own and c != "freqprior"])
            row = [f"+ {sampler}" + (f" ({label})" if label else "")]
            for d in datasets:
                cell = v[v.dataset == d]
                if cell.empty:
                    row += ["", ""] + ([""] if paper else [])
                    continue
                r = cell.iloc[0]
                ns[d].add(int(r.n))
                row += [
                    _num(r.value, digits),
                    Delta(r.delta, r.ci_low, r.ci_high, digits, int(r.n)),
                ]
                if paper:
                    setting = {c: r[c] for c in CONFIG_COLUMNS}
                    arm = paper_numbers.freeinit_arm(setting, int(r.iteration))
                    row.append(_paper_cell(model, d, metric, arm))
            rows.append(row)
    notes = [
        f"Mean over videos; Δ: {refiners} - baseline on the same prompt and seed, paired bootstrap "
        f"{ci}. n = "
        + "; ".join(
            f"{DATASET_NAMES.get(d, d)} {'/'.join(map(str, sorted(ns[d])))}"
            for d in datasets
            if ns[d]
        )
        + " videos."
    ]
    if paper:
        notes.append(
            f"paper: {paper_numbers.PAPER}, DINO ViT-S/16 x 100. Only AnimateDiff/UCF-101 "
            "baseline is confirmed by the authors; the rest are from secondary notes of the paper "
            "(see evaluation/paper_numbers.py)."
        )
    sources = set(final.baseline_source) - {"iteration 0"}
    notes += [f"Baseline of coarse-to-fine rows: {s}." for s in sorted(sources)]
    notes += _small_n(final.n)
    title = f"Baseline vs {refiners}: {metric}"
    if not (final.iteration > 0).any():  # one pass per video (e.g. long videos): no refinement
        n = "; ".join(
            f"{DATASET_NAMES.get(d, d)} {final[final.dataset == d].n.max()}" for d in datasets
        )
        notes = [f"Mean over videos, one sampling pass each (no refinement). n = {n} videos."]
        notes += _small_n(final.n)
        title = f"{metric} by setting"
    return Table(f"table1_{slug(metric)}", title, header, rows, notes, metric, ci)


def summary_table(sweep: Sweep, diffs: pd.DataFrame, ci: str = "95% CI") -> Table | None:
    """FreeInit - baseline for every metric, a row per setting that runs FreeInit."""
    final = diffs[diffs.final & (diffs.iteration > 0)]
    if final.empty:
        return None
    cols = sweep.setting_columns
    header = [*cols, "n", "UNet steps", *(f"Δ {m}" for m in sweep.metrics)]
    digits = {m: _digits(diffs[diffs.metric == m].baseline) for m in sweep.metrics}
    rows: list[list[Cell]] = []
    first = final[final.metric == sweep.metrics[0]]
    for _, r in first.iterrows():
        same = final[final.setting == r.setting].set_index("metric")
        row: list[Cell] = [fmt(r[c]) for c in cols] + [str(r.n), f"{r.steps:g}"]
        for m in sweep.metrics:
            s = same.loc[m]
            row.append(Delta(s.delta, s.ci_low, s.ci_high, digits[m], int(s.n)))
        rows.append(row)
    notes = [
        f"Δ: last {sweep.samplers(final)} pass - baseline, mean over videos with a paired bootstrap {ci}; "
        "UNet steps: denoising steps per video, all passes."
    ]
    notes += _small_n(final.n)
    title = f"{sweep.samplers(final)} - baseline, every metric"
    return Table("freeinit_vs_baseline", title, header, rows, notes, None, ci)


def iteration_table(
    sweep: Sweep, diffs: pd.DataFrame, metric: str, ci: str = "95% CI"
) -> Table | None:
    """Metric vs iteration: a row per setting, a column per pass (mean, and Δ to the baseline)."""
    d = diffs[diffs.metric == metric]
    last = int(d.iteration.max())
    if last == 0:
        return None
    digits = _digits(d.baseline)
    cols = sweep.setting_columns
    header = [*cols, "n", *(f"iter {k}" for k in range(last + 1)), "UNet steps (cumulative)"]
    rows: list[list[Cell]] = []
    for _, first in d[d.iteration == 0].iterrows():
        g = d[d.setting == first.setting].set_index("iteration")
        row: list[Cell] = [fmt(first[c]) for c in cols] + [str(first.n)]
        for k in range(last + 1):
            if k not in g.index:
                row.append("")
                continue
            r = g.loc[k]
            own = k == 0 and r.baseline_source == "iteration 0"
            delta = Delta(r.delta, r.ci_low, r.ci_high, digits, int(r.n))
            row.append(_num(r.value, digits) + ("" if own else f" ({delta})"))
        row.append("/".join(f"{g.loc[k].steps:g}" for k in sorted(g.index)))
        rows.append(row)
    notes = [
        f"Mean over videos at each {sweep.samplers(d)} iteration (0 = plain sampling); in brackets the "
        f"difference to the baseline on the same prompt and seed with its paired bootstrap {ci}."
    ]
    notes += _small_n(d.n)
    title = f"{metric} vs iteration"
    return Table(f"iterations_{slug(metric)}", title, header, rows, notes, metric, ci)


def ablation_table(
    sweep: Sweep, diffs: pd.DataFrame, metric: str, ci: str = "95% CI"
) -> Table | None:
    """A row per setting (the varying columns first): baseline, FreeInit, Δ, steps, paper."""
    factors = [c for c in sweep.setting_columns if c not in ("model", "dataset")]
    if not factors:
        return None
    d = diffs[(diffs.metric == metric) & diffs.final]
    digits = _digits(d.baseline)
    cols = [*factors, "model", "dataset"]
    paper_rows = []
    for _, r in d.iterrows():
        setting = {c: r[c] for c in CONFIG_COLUMNS}
        arm = paper_numbers.freeinit_arm(setting, int(r.iteration)) if r.iteration > 0 else None
        paper_rows.append(_paper_cell(r.model, r.dataset, metric, arm))
    d = d.assign(_paper=paper_rows)
    paper = any(paper_rows)
    header = [*cols, "n", "UNet steps", "baseline", "FreeInit", f"Δ [{ci}]"]
    header += ["paper"] if paper else []
    rows: list[list[Cell]] = []
    for _, r in d.iterrows():
        fi = r.iteration > 0
        row: list[Cell] = [fmt(r[c]) for c in cols] + [str(r.n), f"{r.steps:g}"]
        row += [_num(r.baseline, digits), _num(r.value, digits) if fi else "-"]
        row += [Delta(r.delta, r.ci_low, r.ci_high, digits, int(r.n)) if fi else "-"]
        row += [r._paper] if paper else []
        rows.append(row)
    notes = [
        "FreeInit: the last pass; Δ: FreeInit - baseline on the same prompt and seed, paired "
        f"bootstrap {ci}; UNet steps per video, all passes."
    ]
    if paper:
        notes.append(
            "paper: FreeInit's filter ablation / Table 1 (gaussian = GLPF, ideal = ILPF), "
            "secondary notes, see evaluation/paper_numbers.py."
        )
    notes += _small_n(d.n)
    title = f"Ablation ({', '.join(factors)}): {metric}"
    return Table(f"ablation_{slug(metric)}", title, header, rows, notes, metric, ci)


def freeu_table(sweep: Sweep, freeu: pd.DataFrame, metric: str, ci: str = "95% CI") -> Table | None:
    """FreeU x FreeInit: each arm's mean and its difference to plain sampling."""
    if freeu.empty:
        return None
    d = freeu[freeu.metric == metric]
    digits = _digits(d.baseline)
    cols = [c for c in sweep.setting_columns if c not in ("freeu",)]
    header = [*cols, "arm", "n", "mean", f"Δ vs plain sampling [{ci}]"]
    rows: list[list[Cell]] = []
    for _, group in frame_groups(d, ["setting"]):
        for arm in FREEU_ARMS:
            r = group[group.arm == arm]
            if r.empty:
                continue
            r = r.iloc[0]
            delta: Cell = (
                ""
                if arm == FREEU_ARMS[0]
                else Delta(r.delta, r.ci_low, r.ci_high, digits, int(r.n))
            )
            rows.append([fmt(r[c]) for c in cols] + [arm, str(r.n), _num(r.value, digits), delta])
    notes = [
        "Plain sampling: iteration 0 without FreeU; FreeInit: the last pass without FreeU; FreeU: "
        "iteration 0 with FreeU; FreeU + FreeInit: the last pass with FreeU. Paired on prompt and "
        f"seed, bootstrap {ci}. Factor columns give the FreeU run's values."
    ]
    notes += _small_n(d.n)
    title = f"FreeU x FreeInit: {metric}"
    return Table(f"freeu_{slug(metric)}", title, header, rows, notes, metric, ci)


def method_table(sweep: Sweep, zoo: pd.DataFrame, ci: str = "95% CI") -> Table | None:
    """The method zoo: a row per method (per context), each metric's paired change from plain
    sampling with its CI, and the UNet steps relative to plain sampling."""
    if zoo.empty:
        return None
    contexts = [c for c in ("model", "dataset", "num_frames") if zoo[c].nunique() > 1]
    header = [*contexts, "method", "n", "UNet steps", "× plain", *(f"Δ {m}" for m in sweep.metrics)]
    digits = {m: _digits(zoo[zoo.metric == m].baseline) for m in sweep.metrics}
    rows: list[list[Cell]] = []
    for _, g in zoo.groupby("setting", sort=False):
        first = g.iloc[0]
        by_metric = g.set_index("metric")
        row: list[Cell] = [fmt(first[c]) for c in contexts] + [first.method, str(first.n)]
        row += [f"{first.unet_steps:g}", f"{first.unet_ratio:.2f}"]
        for m in sweep.metrics:
            r = by_metric.loc[m]
            row.append(
                _num(r.value, digits[m])
                if first.method == "plain sampling"
                else Delta(r.delta, r.ci_low, r.ci_high, digits[m], int(r.n))
            )
        rows.append(row)
    notes = [
        "Each method's last pass minus plain sampling (iteration 0 with no model-level method: "
        f"the same noise) on the same prompt and seed, mean over videos with a paired bootstrap "
        f"{ci}; a plain sampling run's row gives its means. UNet steps: per video, all passes, as "
        "each method spends them (FreqPrior's earlier passes stop at mid_step)."
    ]
    notes += _small_n(zoo.n)
    return Table("methods_vs_plain", "Methods vs plain sampling", header, rows, notes, None, ci)


def primary_metric(metrics: Sequence[str]) -> str:
    """The metric tables and plots lead with: FreeInit's DINO consistency when measured."""
    for test in (
        lambda m: m == paper_numbers.METRIC,
        lambda m: m.startswith("dino_consistency"),
        lambda m: "consistency" in m,
    ):
        found = [m for m in metrics if test(m)]
        if found:
            return found[0]
    return metrics[0]


def build_tables(
    sweep: Sweep,
    diffs: pd.DataFrame,
    freeu: pd.DataFrame,
    confidence: float = 0.95,
    zoo: pd.DataFrame | None = None,
) -> list[Table]:
    """Every table of the report, primary metric first (the method zoo's table leads when the
    sweep compares methods)."""
    first = primary_metric(sweep.metrics)
    metrics = [first] + [m for m in sweep.metrics if m != first]
    ci = f"{confidence:.0%} CI"
    tables: list[Table | None] = [method_table(sweep, pd.DataFrame() if zoo is None else zoo, ci)]
    tables += [table1(sweep, diffs, m, ci) for m in metrics]
    tables.append(summary_table(sweep, diffs, ci))
    tables += [iteration_table(sweep, diffs, m, ci) for m in metrics]
    tables += [ablation_table(sweep, diffs, m, ci) for m in metrics]
    tables += [freeu_table(sweep, freeu, m, ci) for m in metrics]
    return [t for t in tables if t is not None]
