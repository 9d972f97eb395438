"""``python -m bench [--quick] [--only NAME] [--output PATH]``: run the scenarios, print the table.

A full run (all scenarios, not ``--quick``) also writes the results into docs/benchmarks.md;
other runs write only when ``--output`` is given.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench.files import make_files
from bench.load import foreign_cores, snapshot, wait_for_quiet
from bench.nginx import find_nginx
from bench.olah import olah_version
from bench.redis_proc import find_redis
from bench.report import DOCS, Row, command_line, first_line, machine, now_utc, results_section, table, write_docs
from bench.scenarios import FULL, QUICK, SCENARIOS, SMOKE, Env, file_specs
from bench.upstream import Upstream

FOREIGN_NOTE = 0.15
"""Cores used by other processes during a scenario above which it is run again, or noted."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="Smaller files (256 MiB instead of 1 GiB) for a laptop.")
    size.add_argument(
        "--smoke",
        action="store_true",
        help="Tiny files and few clients, no waiting for a quiet machine: checks the harness (CI), "
        "the numbers mean nothing.",
    )
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
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="Run a scenario again (this many times at most) when other processes loaded the machine while it ran.",
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="Do not install missing references (nginx with apt-get, olah with pip): skip their rows.",
    )
    parser.add_argument(
        "--workers",
        type=lambda text: tuple(int(x) for x in text.split(",")),
        default=(1,),
        metavar="N[,N...]",
        help="Run warm-many and herd against the proxy with each of these --workers values (default 1).",
    )
    parser.add_argument(
        "--client-procs",
        type=int,
        default=1,
        metavar="N",
        help="Spread the herd's clients over N client processes of threads (default 1: one aiohttp process). "
        "warm-many's clients are curl processes already.",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="Record the proxy with py-spy during the herd (and its warm repeat) into DIR; "
        "the hottest functions become notes.",
    )
    return parser


def _run_scenario(name: str, env: Env, retries: int, quiet_patience: float) -> tuple[list[Row], bool]:
    """Run one scenario; run it again (up to ``retries`` times) if others loaded the machine meanwhile."""
    ours = [env.upstream.child.pid]
    for attempt in range(retries + 1):
        rows: list[Row] = []
        notes_before = len(env.notes)

        def emit(row: Row, rows: list[Row] = rows) -> None:
            rows.append(row)
            print(" | ".join(row.cells()), flush=True)

        wait_for_quiet(ours, patience=quiet_patience)
        before = snapshot(ours)
        failed = False
        try:
            SCENARIOS[name](env, emit)
        except Exception as exc:
            failed = True
            traceback.print_exc()
            emit(Row(name, "FAILED", type(exc).__name__, "", str(exc).splitlines()[0][:300]))
        after = snapshot(ours)
        foreign = foreign_cores(before, after)
        print(f"   ({after.at - before.at:.1f} s; other processes used {foreign:.2f} cores)", flush=True)
        if foreign <= FOREIGN_NOTE or failed:
            return rows, failed
        if attempt < retries:
            print(f"   the machine was busy: discarding these rows and running {name} again", flush=True)
            del env.notes[notes_before:]
            continue
        env.notes.append(
            f"{name}: other processes on the machine (or the hypervisor's steal time) kept {foreign:.2f} "
            f"cores busy on average while it ran, in each of {retries + 1} attempts; its numbers may be low"
        )
    return rows, failed


def references() -> list[tuple[str, str]]:
    """Versions of the references, read after the run (which may have installed them)."""
    nginx = find_nginx()
    redis = find_redis()
    return [
        ("nginx", first_line([nginx, "-v"]) if nginx else "not installed"),
        ("olah", olah_version()),
        ("redis-server", first_line([redis, "--version"]) if redis else "not installed"),
    ]


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every finally: children stop, files go


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    args = _parser().parse_args(argv)
    chosen = [name for name in SCENARIOS if not args.only or name in args.only]
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    retries, patience = (0, 0.0) if args.smoke else (args.retries, 45.0)
    full = not (args.quick or args.smoke or args.only)
    output: Path | None = args.output or (DOCS if full else None)
    command, date = command_line(argv), now_utc()
    started = time.monotonic()
    rows: list[Row] = []
    notes: list[str] = []
    failed = False

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
            env = Env(
                workdir,
                files,
                upstream,
                sizes,
                notes,
                install=not args.no_install,
                profile_dir=args.profile,
                workers=args.workers,
                client_procs=args.client_procs,
            )
            for name in chosen:
                print(f"== {name}", flush=True)
                scenario_rows, scenario_failed = _run_scenario(name, env, retries, patience)
                rows += scenario_rows
                failed = failed or scenario_failed
        finally:
            upstream.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    elapsed = time.monotonic() - started
    host = machine(references())
    print()
    print(table(rows))
    for note in notes:
        print(f"note: {note}")
    print(f"\n{command}: {elapsed:.0f} s")
    if output is not None:
        write_docs(results_section(rows, notes, command, date, elapsed, host), output)
        print(f"wrote {output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
