"""Evidence for the process on real data; prints Markdown tables (pasted into benchmarks/README.md).

1. Polis (the bundled scoop-hivemind biodiversity conversation): hold out 20 % of participants
   (seeded), choose a slate of k comments on the rest, and measure on the held-out people
   * coverage: the share who agree with at least one slate comment, among those who voted on at
     least one slate comment;
   * the largest group of held-out people who agree with one excluded comment but with no slate
     comment, as a multiple of n_held_out / k (≥ 1 is a justified-representation failure on
     observed votes).
   Methods: ``gsc`` (the offline ``pnyx run`` process), top-k by agree count, top-k by agree rate,
   Polis-style group-representative comments, seq-PAV and the Method of Equal Shares on the imputed
   matrix (the same offline backend's predictions).
2. The chatbot-personalization data (offline default): the slate, its predicted BJR audit, the time.
3. Time and peak memory of the offline ``pnyx run`` CLI on the Polis conversation (536 people),
   with loading the data alone as the baseline measured in the same run.

Run:  .venv/bin/python benchmarks/process.py [--seeds 3] [--k 5 10] [--skip polis chatbot timing]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pnyx.evaluate.portrayal import (group_representatives, held_out, split_participants, top_by_agree_count,
                                    top_by_agree_rate)
from pnyx.io import load

REPO = Path(__file__).resolve().parents[1]
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"
CHATBOT = REPO.parent / "shared" / "data" / "chatbot_personalization" / "participants.jsonl"


def polis_table(seeds: int, ks: list[int]) -> str:
    from pnyx.pipeline import run
    from pnyx.process import ProcessOptions
    from pnyx.rules import compute

    profile = load(POLIS)
    methods = ["gsc", "top-k agree count", "top-k agree rate", "Polis group representatives", "seq-PAV (imputed)",
               "Equal Shares (imputed)"]
    rows: dict[tuple[int, str], list[dict[str, float]]] = {}
    seconds: dict[tuple[int, str], list[float]] = {}
    for k in ks:
        for seed in range(seeds):
            train_rows, test_rows = split_participants(profile.n, fraction=0.2, seed=seed)
            train = profile.subset(participants=train_rows)
            votes, test_votes = train.observed_values(), profile.observed_values()[test_rows]
            t0 = time.perf_counter()
            result = run(train, k, backend="offline", generators=["extractive"], options=ProcessOptions(seed=seed),
                         measure_accuracy=False)
            seconds.setdefault((k, "gsc"), []).append(time.perf_counter() - t0)
            slates = {"gsc": [train.statement_ids.index(s.id) for s in result.result.statements]}
            baselines = {"top-k agree count": lambda: top_by_agree_count(votes, k),
                         "top-k agree rate": lambda: top_by_agree_rate(votes, k),
                         "Polis group representatives": lambda: group_representatives(
                             votes, train.groups(), k, score="repness", seats="proportional")}
            for name, f in baselines.items():
                t0 = time.perf_counter()
                slates[name] = f()
                seconds.setdefault((k, name), []).append(time.perf_counter() - t0)
            # the imputed matrix: the same offline backend's predictions the gsc run used for the data's comments
            imputed = result.result.utilities[:, : train.m]
            for name, rule in (("seq-PAV (imputed)", "seq-pav"), ("Equal Shares (imputed)", "equal-shares")):
                t0 = time.perf_counter()
                slates[name] = list(compute(rule, imputed, k).slate)
                seconds.setdefault((k, name), []).append(time.perf_counter() - t0)
            for name, slate in slates.items():
                assert len(slate) == k and len(set(slate)) == k, (name, slate)
                rows.setdefault((k, name), []).append(held_out(votes, test_votes, slate, k))
    lines = [f"Held-out 20 % of {profile.n} participants, {seeds} seeds (mean ± sd over seeds).", "",
             "gsc seconds: the whole offline process (imputation included); seq-PAV and Equal Shares: the rule on "
             "the gsc run's imputed matrix.", "",
             "| k | method | coverage of held-out | largest uncovered agreeing group / (n/k) | seconds |",
             "|---|---|---|---|---|"]
    for k in ks:
        for name in methods:
            ms = rows[(k, name)]
            cov = np.array([m.coverage for m in ms])
            big = np.array([m.jr_gap for m in ms])
            lines.append(f"| {k} | {name} | {cov.mean():.3f} ± {cov.std():.3f} | {big.mean():.2f} ± {big.std():.2f} "
                         f"| {np.mean(seconds[(k, name)]):.2f} |")
    return "\n".join(lines)


def chatbot_table(k: int = 5) -> str:
    from pnyx.pipeline import run
    from pnyx.process import ProcessOptions

    if not CHATBOT.exists():
        return f"(skipped: {CHATBOT} not found)"
    profile = load(CHATBOT)
    t0 = time.perf_counter()
    result = run(profile, k, backend="offline", options=ProcessOptions(seed=0))
    seconds = time.perf_counter() - t0
    audit = result.audit.to_json()
    lines = [f"Chatbot personalization, {profile.n} participants, k = {k}, offline default "
             f"(generators: {', '.join(result.generators)}): {seconds:.1f} s including the accuracy harness.", "",
             "| # | statement (source) | matched | mean utility of matched |", "|---|---|---|---|"]
    U = result.result.utilities
    for s, (st, members) in enumerate(zip(result.result.statements, result.result.supporters), start=1):
        text = st.text if len(st.text) < 160 else st.text[:157] + "…"
        lines.append(f"| {s} | {text} ({st.source}{', ' + st.id if st.source == 'data' else ''}) | {len(members)} "
                     f"| {U[members, result.result.slate[s - 1]].mean():.2f} |")
    bjr = audit["bjr"]
    witness = "" if bjr["satisfied"] else f" ({result.audit.bjr.sentence(profile.n / k)})"
    acc = audit["accuracy"]["metrics"]
    lines += ["", f"Predicted audit: BJR {'holds' if bjr['satisfied'] else 'violated'}{witness}; "
                  f"EJR {'holds' if audit['ejr']['satisfied'] else 'violated'}; mean assigned utility "
                  f"{audit['utilities']['mean_assigned']:.2f} (predicted for "
                  f"{audit['utilities']['assigned_predicted']} of {profile.n} participants). Accuracy of the offline "
                  f"backend on this data (statement held out): MAE {acc['mae']:.3f}, within 1 {acc['within_1']:.1%}, "
                  f"Spearman {acc['spearman']:.2f}."]
    return "\n".join(lines)


def timing_table(k: int = 5) -> str:
    """Wall time and peak RSS of the CLI in a fresh process, against loading the data alone."""
    def child(args: list[str]) -> tuple[float, float]:
        code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
                "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
                "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True).stdout
        wall, rss = out.split()
        return float(wall), float(rss) / 1024

    pnyx = str(Path(sys.executable).parent / "pnyx")
    with tempfile.TemporaryDirectory() as tmp:
        load_s, load_mb = child([pnyx, "validate", str(POLIS)])
        run_s, run_mb = child([pnyx, "run", str(POLIS), "-k", str(k), "--out", tmp])
    return "\n".join([
        "| command (fresh process) | wall seconds | peak RSS (MiB) |", "|---|---|---|",
        f"| `pnyx validate` (load only, baseline) | {load_s:.1f} | {load_mb:.0f} |",
        f"| `pnyx run examples/scoop-hivemind-biodiversity -k {k}` (offline) | {run_s:.1f} | {run_mb:.0f} |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--skip", nargs="*", default=[], choices=["polis", "chatbot", "timing"])
    args = parser.parse_args()
    print(f"# pnyx process benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n")
    if "timing" not in args.skip:
        print("## Time and memory\n\n" + timing_table() + "\n")
    if "polis" not in args.skip:
        print("## Polis held-out evaluation\n\n" + polis_table(args.seeds, args.k) + "\n")
    if "chatbot" not in args.skip:
        print("## Chatbot personalization (offline)\n\n" + chatbot_table() + "\n")


if __name__ == "__main__":
    main()
