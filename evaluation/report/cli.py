"""``python -m evaluation.report SWEEP [SWEEP ...] [--out DIR]``: write a sweep's report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from evaluation.report.build import build_report
from evaluation.report.write import write_report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m evaluation.report SWEEP [SWEEP ...]``: write the report, print its tables."""
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.report",
        description="Tables (markdown, LaTeX), plots and report.html for one or more sweeps.",
    )
    parser.add_argument("paths", nargs="+", help="sweep or job directories, or results.parquet")
    parser.add_argument("--out", help="output directory (default: <first path>/report)")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--gallery", type=int, default=8, help="videos per setting (0: all)")
    parser.add_argument("--gallery-height", type=int, default=256, help="pixels (0: original)")
    parser.add_argument("--videos", choices=("inline", "copy"), default="inline")
    parser.add_argument("--no-html", action="store_true", help="skip report.html")
    args = parser.parse_args(argv)
    first = Path(args.paths[0])
    out = Path(args.out) if args.out else (first if first.is_dir() else first.parent) / "report"
    try:
        report = build_report(
            *args.paths,
            confidence=args.confidence,
            n_resamples=args.resamples,
            seed=args.seed,
            exclude=[out],
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    written = write_report(
        report,
        out,
        html=not args.no_html,
        gallery=args.gallery or None,
        gallery_height=args.gallery_height,
        videos=args.videos,
    )
    sweep = report.sweep
    print(
        f"{len(sweep.jobs)} results files, {sweep.frame.sample_key.nunique()} videos, "
        f"{len(sweep.frame)} rows ({sweep.duplicates} duplicates dropped)\n"
    )
    print(report.tables[0].to_markdown())
    for kind, path in written.items():
        print(f"{kind:>18}: {path}")
    return 0
