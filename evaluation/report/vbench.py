"""The report's VBench table: each setting's VBench quality dimensions beside the leaderboard's.

A column ``motion_smoothness[amt_s]`` (``dynamic_degree[...]``, ``aesthetic_quality[...]``,
``imaging_quality[...]``) is a VBench dimension; its value per setting is the mean over videos of
the setting's plain pass (iteration 0) and of its last pass, x 100 as the leaderboard prints it
(``imaging_quality``'s per-video values are on MUSIQ's 0-100 scale already, so they are not
scaled again). The leaderboard's numbers (:mod:`evaluation.paper_numbers`) stand in a row of
their own for the models it lists, tagged with their source.
"""

from __future__ import annotations

from evaluation import paper_numbers
from evaluation.report.tables import Table
from evaluation.results import Sweep, fmt

__all__ = ["vbench_columns", "vbench_table"]


def _dimension(column: str) -> str:
    return column.split("[", 1)[0]


def vbench_columns(metrics: list[str]) -> list[str]:
    """The sweep's metric columns that are VBench quality dimensions, in the leaderboard's order."""
    order = {d: i for i, d in enumerate(paper_numbers.VBENCH_DIMENSIONS)}
    found = [m for m in metrics if _dimension(m) in order]
    return sorted(found, key=lambda m: order[_dimension(m)])


def _percent(column: str, value: float) -> float:
    return value if _dimension(column) == "imaging_quality" else 100.0 * value


def vbench_table(sweep: Sweep) -> Table | None:
    """A row per (setting, pass: plain or last), a column per VBench dimension, and the
    leaderboard's row for each model it lists; None without VBench dimensions."""
    columns = vbench_columns(sweep.metrics)
    if not columns:
        return None
    f = sweep.frame
    header = ["setting", "pass", "n", *(_dimension(c) for c in columns)]
    rows: list[list[str]] = []
    for model, by_model in f.groupby("model", sort=False):
        for _, rows_of in by_model.groupby("_setting", sort=False):
            label = sweep.label(rows_of.iloc[0])
            last = int(rows_of.iteration.max())
            for name, k in (("plain (iteration 0)", 0), (f"last (iteration {last})", last)):
                if k == last and last == 0 and name.startswith("last"):
                    continue
                at = rows_of[rows_of.iteration == k]
                cells = [fmt(_percent(c, at[c].mean())) if c in at else "" for c in columns]
                rows.append([label, name, str(at.sample_key.nunique()), *cells])
        reported = [paper_numbers.vbench_reported(str(model), _dimension(c)) for c in columns]
        if any(v is not None for v in reported):
            board = paper_numbers.VBENCH_MODELS[str(model)]
            cells = ["" if v is None else f"{v:.2f}" for v in reported]
            rows.append([f"{board} (leaderboard)", "", "", *cells])
    notes = [
        "Mean over videos, x 100 (imaging quality: MUSIQ's 0-100 scale), at the plain pass and "
        "the last pass of each setting. Leaderboard rows: "
        f"{paper_numbers.VBENCH}, values from {paper_numbers.VBENCH_SOURCE}; they stand beside "
        "ours for the same model only (the leaderboard's prompts, frames and seeds differ).",
    ]
    return Table("vbench", "VBench quality dimensions", header, rows, notes, None)
