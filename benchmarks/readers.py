"""Readers: ``pnyx.io.load`` against a baseline on the same files, in one run (median of 5 runs).

    .venv/bin/python benchmarks/readers.py

Baselines: for the real files, parsing alone with the standard library (``csv`` / ``json``, no
validation, no profile); for the committee-voting formats, abcvoting's own readers on a seeded
10,000-voter × 50-candidate approval profile written by abcvoting.
"""

from __future__ import annotations

import csv
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from abcvoting import fileio
from abcvoting.preferences import Profile as ABCProfile

from pnyx.io import load

REPO = Path(__file__).resolve().parents[1]
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"
CHATBOT = REPO.parent / "shared" / "data" / "chatbot_personalization" / "participants.jsonl"


def seconds(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parse_polis() -> None:
    for name in ("comments.csv", "votes.csv", "participants-votes.csv"):
        with open(POLIS / name, encoding="utf-8", newline="") as f:
            list(csv.DictReader(f))


def parse_jsonl() -> None:
    [json.loads(line) for line in CHATBOT.read_text(encoding="utf-8").splitlines()]


def main() -> None:
    rng = np.random.default_rng(2026)
    abc = ABCProfile(50)
    abc.add_voters([list(np.flatnonzero(rng.random(50) < 0.1)) for _ in range(10_000)])
    tmp = Path(tempfile.mkdtemp())
    fileio.write_abcvoting_instance_to_yaml_file(tmp / "big.abc.yaml", abc)
    fileio.write_profile_to_preflib_cat_file(str(tmp / "big.cat"), abc)

    cases = [
        ("Polis export (536 × 154, 29,802 votes)", lambda: load(POLIS), "csv.DictReader, 3 files", parse_polis),
        ("pnyx JSONL (100 × 6)", lambda: load(CHATBOT), "json.loads per line", parse_jsonl),
        ("abcvoting YAML (10,000 × 50)", lambda: load(tmp / "big.abc.yaml"), "abcvoting read_abcvoting_yaml_file",
         lambda: fileio.read_abcvoting_yaml_file(str(tmp / "big.abc.yaml"))),
        ("PrefLib .cat (10,000 × 50)", lambda: load(tmp / "big.cat"), "abcvoting read_preflib_file",
         lambda: fileio.read_preflib_file(str(tmp / "big.cat"))),
    ]
    print("| input | pnyx load (s) | baseline | baseline (s) |")
    print("|---|---|---|---|")
    for name, ours, baseline_name, baseline in cases:
        print(f"| {name} | {seconds(ours):.3f} | {baseline_name} | {seconds(baseline):.3f} |", flush=True)


if __name__ == "__main__":
    main()
