"""Writing a report: tables (markdown, LaTeX), differences (CSV), plots, merged results, HTML."""

from __future__ import annotations

from pathlib import Path

from evaluation.report.build import Report
from evaluation.report.html import write_html
from evaluation.report.plots import png_bytes
from evaluation.results import GROUP_KEYS
from freqlab.atomic import atomic_path, write_atomic


def write_report(
    report: Report,
    out: str | Path,
    *,
    html: bool = True,
    gallery: int | None = 8,
    gallery_height: int = 256,
    videos: str = "inline",
) -> dict[str, Path]:
    """Write tables, CSVs, plots, merged results and ``report.html`` into ``out``.

    ``gallery``: videos per setting in the HTML gallery (None: all); ``gallery_height``: their
    height in pixels (0: as generated); ``videos``: ``inline`` (data URIs) or ``copy`` (files in
    ``out/videos``). Returns the written files by kind.
    """
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for t in report.tables:
        write_atomic(out / "tables" / f"{t.name}.md", t.to_markdown().encode())
        write_atomic(out / "tables" / f"{t.name}.tex", t.to_latex().encode())
    header = f"# Report: {', '.join(str(r) for r in report.sweep.roots)}\n\n"
    written["markdown"] = out / "tables.md"
    markdown = header + "\n".join(t.to_markdown() for t in report.tables)
    write_atomic(written["markdown"], markdown.encode())
    written["latex"] = out / "tables.tex"
    latex = "% \\usepackage{booktabs}\n" + "\n".join(t.to_latex() for t in report.tables)
    write_atomic(written["latex"], latex.encode())
    written["differences"] = out / "differences.csv"
    with atomic_path(written["differences"]) as tmp:
        report.differences.to_csv(tmp, index=False)
    if not report.freeu_differences.empty:
        written["freeu_differences"] = out / "freeu_differences.csv"
        with atomic_path(written["freeu_differences"]) as tmp:
            report.freeu_differences.to_csv(tmp, index=False)
    for name, fig in report.figures.items():
        written[f"plot_{name}"] = out / "plots" / f"{name}.png"
        write_atomic(written[f"plot_{name}"], png_bytes(fig))
    written["results"] = out / "results_merged.parquet"
    frame = report.sweep.frame
    jobs = [str(j.path) for j in report.sweep.jobs]
    frame = frame.assign(job=frame._job.map(jobs.__getitem__)).drop(columns=[*GROUP_KEYS, "_job"])
    with atomic_path(written["results"]) as tmp:
        frame.to_parquet(tmp, index=False)
    if html:
        written["html"] = write_html(
            report, out, gallery=gallery, gallery_height=gallery_height, videos=videos
        )
    return written
