"""Does the default process's own audit hold? `pnyx run`'s defaults on every shared Polis conversation.

For each conversation of ../shared/data/polis and k = 5, 10: the default offline process
(:func:`pnyx.pipeline.run`, backend ``offline``, seed 0, no accuracy measurement), and its audit on the
utilities it used: BJR with the process's matching and with the balanced assignment, EJR, the seats,
what the pool left out, and the wall time. Prints a Markdown table.

    .venv/bin/python benchmarks/own_audit.py [--k 5 10] [--backend offline] [--tiebreak least-served]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pnyx.io import load
from pnyx.pipeline import run
from pnyx.process import ProcessOptions

POLIS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "polis"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--backend", default="offline")
    parser.add_argument("--data", type=Path, default=POLIS)
    parser.add_argument("--tiebreak", default="least-served", help="the process's tiebreak (default: its default)")
    args = parser.parse_args()
    folders = sorted(p for p in args.data.iterdir() if (p / "comments.csv").is_file()) if args.data.is_dir() else []
    if not folders:
        raise SystemExit(f"no Polis export folders under {args.data} (see ../shared/data/README.md)")
    print(f"# own audit of the default process ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"backend {args.backend}; tiebreak {args.tiebreak})\n")
    print("| conversation | n | k | BJR (process's matching) | BJR (balanced) | EJR | seats held by one statement "
          "| statements left out | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for folder in folders:
        profile = load(folder)
        for k in args.k:
            t0 = time.perf_counter()
            audit = run(profile, k, backend=args.backend, measure_accuracy=False,
                        options=ProcessOptions(seed=0, tiebreak=args.tiebreak)).audit
            left = ", ".join(f"{len(ids)} {why}" for why, ids in audit.pool["excluded"].items()) or "none"
            seats = max(audit.seats.values())
            print(f"| {folder.name} | {audit.n} | {k} | {'holds' if audit.bjr.satisfied else 'violated'} "
                  f"| {'holds' if audit.bjr_balanced.satisfied else 'violated'} "
                  f"| {'holds' if audit.ejr.satisfied else 'violated'} | {seats} | {left} "
                  f"| {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
