"""Reports of a sweep: paper-style tables (markdown, LaTeX), plots, and a self-contained HTML page.

::

    python -m evaluation.report multirun/generate/<date_time> [more dirs ...] [--out DIR]

Every ``results.parquet`` under the given directories is merged (:func:`evaluation.results.load_sweep`:
jobs of a sweep, shards, and sweeps run into the same folder; a sample found twice counts once).
Rows are grouped into *settings*, one per combination of the config columns that vary.

FreeInit - baseline: for every setting, metric and iteration k, the per-video difference between
pass k and the baseline on the same prompt and seed, with a paired bootstrap 95% CI (percentile
method, videos resampled with replacement, 10,000 resamples, seeded). When a sweep has runs with
and without FreeU, FreeU, FreeInit and both are also compared with plain sampling.

Outputs (``<first dir>/report`` unless ``--out``): ``tables.md`` / ``tables.tex`` (and one file per
table in ``tables/``), ``differences.csv`` (every difference and CI), ``plots/*.png``,
``results_merged.parquet`` and ``report.html``.

The package follows the seams of that work, each module importing only those before it:

- :mod:`~evaluation.report.statistics`: the paired bootstrap CI;
- :mod:`~evaluation.report.pairing`: each setting's passes with their baseline, and differences;
- :mod:`~evaluation.report.tables`: the tables (with the paper's numbers beside ours);
- :mod:`~evaluation.report.plots`: the plots;
- :mod:`~evaluation.report.build`: the :class:`Report` object, computed once;
- :mod:`~evaluation.report.html`: ``report.html``;
- :mod:`~evaluation.report.write`: every file of a report;
- :mod:`~evaluation.report.cli`: ``python -m evaluation.report``.
"""

from evaluation.report.build import Report, build_report
from evaluation.report.cli import main
from evaluation.report.html import render_html, write_html
from evaluation.report.pairing import (
    FREEU_ARMS,
    Passes,
    freeinit_differences,
    freeu_differences,
    setting_passes,
)
from evaluation.report.plots import (
    plot_consistency_vs_motion,
    plot_metric_vs_iteration,
    png_bytes,
    setting_colours,
)
from evaluation.report.statistics import MIN_PAIRS, BootstrapCI, paired_bootstrap_ci
from evaluation.report.tables import (
    Delta,
    Table,
    build_tables,
    latex_escape,
    primary_metric,
    slug,
)
from evaluation.report.write import write_report
from evaluation.results import CONFIG_COLUMNS, Sweep, find_results, load_sweep

__all__ = [
    "CONFIG_COLUMNS",
    "FREEU_ARMS",
    "MIN_PAIRS",
    "BootstrapCI",
    "Delta",
    "Passes",
    "Report",
    "Sweep",
    "Table",
    "build_report",
    "build_tables",
    "find_results",
    "freeinit_differences",
    "freeu_differences",
    "latex_escape",
    "load_sweep",
    "main",
    "paired_bootstrap_ci",
    "plot_consistency_vs_motion",
    "plot_metric_vs_iteration",
    "png_bytes",
    "primary_metric",
    "render_html",
    "setting_colours",
    "setting_passes",
    "slug",
    "write_html",
    "write_report",
]
