"""``python -m bench [--quick] [--only NAME] [--output PATH]``: run the scenarios, print the table.

A full run (all scenarios, not ``--quick``) also writes the results into docs/benchmarks.md;
other runs write only when ``--output`` is given.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench.files import make_files
from bench.report import DOCS, Row, command_line, now_utc, results_section, table, write_docs
from bench.scenarios import FULL, QUICK, SCENARIOS, Env, file_specs
from bench.upstream import Upstream


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Smaller files (256 MiB instead of 1 GiB).")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"Run only this scenario (repeatable): {', '.join(SCENARIOS)}.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"Markdown file for the results (default: {DOCS.relative_to(DOCS.parent.parent)} "
        "for a full run, none otherwise).",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    chosen = [name for name in SCENARIOS if not args.only or name in args.only]
    sizes = QUICK if args.quick else FULL
    output: Path | None = args.output or (DOCS if not args.quick and not args.only else None)
    command, date = command_line(argv), now_utc()
    started = time.monotonic()
    rows: list[Row] = []
    notes: list[str] = []
    failed = False

    def emit(row: Row) -> None:
        rows.append(row)
        print(" | ".join(row.cells()), flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="modelmanager-bench-", dir="/tmp"))
    try:
        (workdir / "files").mkdir()
        specs = file_specs(sizes, chosen)
        print(
            f"writing {len(specs)} test files ({sum(s for _, s in specs) / (1 << 20):,.0f} MiB) to {workdir}",
            flush=True,
        )
        t = time.monotonic()
        files = make_files(workdir / "files", specs)
        print(f"  done in {time.monotonic() - t:.1f} s", flush=True)
        upstream = Upstream(workdir / "files", workdir)
        try:
            env = Env(workdir, files, upstream, sizes, notes)
            for name in chosen:
                print(f"== {name}", flush=True)
                t = time.monotonic()
                try:
                    SCENARIOS[name](env, emit)
                except Exception as exc:
                    failed = True
                    traceback.print_exc()
                    emit(Row(name, "FAILED", type(exc).__name__, "", str(exc).splitlines()[0][:300]))
                print(f"   ({time.monotonic() - t:.1f} s)", flush=True)
        finally:
            upstream.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    elapsed = time.monotonic() - started
    print()
    print(table(rows))
    for note in notes:
        print(f"note: {note}")
    print(f"\n{command}: {elapsed:.0f} s")
    if output is not None:
        write_docs(results_section(rows, notes, command, date, elapsed), output)
        print(f"wrote {output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
