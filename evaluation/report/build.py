"""The report object: a sweep merged, paired and measured once (tables, differences, plots).

:func:`build_report` computes everything and writes nothing; :func:`evaluation.report.write.write_report`
writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from evaluation.report.fvd import fvd_table
from evaluation.report.pairing import freeinit_differences, freeu_differences
from evaluation.report.plots import (
    motion_metric,
    plot_consistency_vs_motion,
    plot_metric_vs_iteration,
)
from evaluation.report.tables import Table, build_tables, primary_metric
from evaluation.report.vbench import vbench_table
from evaluation.report.zoo import method_differences, plot_method_tradeoff
from evaluation.results import Sweep, load_sweep


@dataclass
class Report:
    """Everything a report shows, computed once: the merged sweep, differences, tables, plots."""

    sweep: Sweep
    differences: pd.DataFrame  # freeinit_differences
    freeu_differences: pd.DataFrame
    tables: list[Table]
    figures: dict[str, Figure]
    confidence: float = 0.95
    n_resamples: int = 10_000
    seed: int = 0
    method_differences: pd.DataFrame | None = None  # zoo.method_differences (empty: no zoo)

    @property
    def primary_metric(self) -> str:
        return primary_metric(self.sweep.metrics)

    def table(self, name: str) -> Table:
        """The table with this file name, e.g. ``table1_dino_consistency-pixel``."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"name: no table {name!r}; have {', '.join(t.name for t in self.tables)}")


def build_report(
    *paths: str | Path,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    exclude: Iterable[str | Path] = (),
) -> Report:
    """Load every results file under ``paths`` and compute the tables and plots (no files)."""
    sweep = load_sweep(*paths, exclude=exclude)
    if not sweep.metrics:
        raise ValueError(f"paths: the results under {paths[0]} have no metric columns")
    options = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    diffs = freeinit_differences(sweep, **options)
    freeu = freeu_differences(sweep, **options)
    figures = {"metric_vs_iteration": plot_metric_vs_iteration(sweep, diffs, confidence)}
    motion = plot_consistency_vs_motion(sweep)
    if motion is not None:
        figures["consistency_vs_motion"] = motion
    zoo = method_differences(sweep, **options)
    motion_column = motion_metric(sweep.metrics)
    if motion_column is not None:
        tradeoff = plot_method_tradeoff(
            zoo, primary_metric(sweep.metrics), motion_column, confidence
        )
        if tradeoff is not None:
            figures["methods_consistency_vs_motion"] = tradeoff
    tables = build_tables(sweep, diffs, freeu, confidence, zoo)
    lead = 1 if tables and tables[0].name == "methods_vs_plain" else 0
    for extra in (fvd_table(sweep), vbench_table(sweep)):
        if extra is not None:  # after the method comparison, before the FreeInit tables
            tables.insert(lead, extra)
    return Report(sweep, diffs, freeu, tables, figures, confidence, n_resamples, seed, zoo)
