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

from pnyx.data import Profile
from pnyx.io import load

REPO = Path(__file__).resolve().parents[1]
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"
CHATBOT = REPO.parent / "shared" / "data" / "chatbot_personalization" / "participants.jsonl"
AGREE = 4.0  # a Polis agree vote on the utility scale


# -- baselines on the training participants' observed votes -------------------------------------------------------

def top_by_agree_count(train: Profile, k: int) -> list[int]:
    agrees = (train.observed & (train.utilities == AGREE)).sum(axis=0)
    return np.argsort(-agrees, kind="stable")[:k].tolist()


def top_by_agree_rate(train: Profile, k: int, min_votes: int = 10) -> list[int]:
    """Agree share among votes cast; comments with fewer than ``min_votes`` votes rank last."""
    votes = train.observed.sum(axis=0)
    agrees = (train.observed & (train.utilities == AGREE)).sum(axis=0)
    rate = np.where(votes >= min_votes, agrees / np.maximum(votes, 1), -1.0)
    return np.argsort(-rate, kind="stable")[:k].tolist()


def polis_group_representatives(train: Profile, k: int) -> list[int]:
    """Polis's representative comments: per opinion group, comments ranked by agree representativeness
    ra·pa with pa = (agrees in group + 1) / (votes in group + 2) and ra = pa / (the same outside the
    group) (Small et al., "Polis: scaling deliberation", 2021; the `repness` of Polis's math); seats
    split among groups in proportion to their size (largest remainder), each group's top comments with
    pa > 1/2 taken in turn."""
    groups = np.array([g if g is not None else "" for g in train.groups()])
    names = sorted(g for g in set(groups) if g)
    agree = (train.observed & (train.utilities == AGREE)).astype(float)
    seen = train.observed.astype(float)
    sizes = np.array([(groups == g).sum() for g in names], dtype=float)
    quota = k * sizes / sizes.sum()
    seats = np.floor(quota).astype(int)
    seats[np.argsort(-(quota - seats), kind="stable")[: k - seats.sum()]] += 1
    ranked = []
    for g in names:
        inside = groups == g
        pa = (agree[inside].sum(0) + 1) / (seen[inside].sum(0) + 2)
        pa_out = (agree[~inside].sum(0) + 1) / (seen[~inside].sum(0) + 2)
        rep = np.where(pa > 0.5, pa / pa_out * pa, -np.inf)
        ranked.append(list(np.argsort(-rep, kind="stable")))
    slate: list[int] = []
    for g, want in enumerate(seats):
        for j in ranked[g]:
            if want == 0:
                break
            if j not in slate:
                slate.append(int(j))
                want -= 1
    return slate


# -- held-out measures ----------------------------------------------------------------------------------------

def held_out_measures(test: Profile, slate: list[int], k: int) -> dict[str, float]:
    agree = test.observed & (test.utilities == AGREE)
    voted = test.observed[:, slate].any(axis=1)
    covered = agree[:, slate].any(axis=1)
    excluded = np.setdiff1d(np.arange(test.m), slate)
    uncovered_agree = agree[~covered][:, excluded].sum(axis=0)
    largest = int(uncovered_agree.max()) if excluded.size else 0
    return {"coverage": covered[voted].mean() if voted.any() else float("nan"), "evaluated": int(voted.sum()),
            "largest_uncovered": largest, "largest_over_quota": largest / (test.n / k)}


def polis_table(seeds: int, ks: list[int]) -> str:
    from pnyx.process import run
    from pnyx.rules import compute

    profile = load(POLIS)
    methods = ["gsc", "top-k agree count", "top-k agree rate", "Polis group representatives", "seq-PAV (imputed)",
               "Equal Shares (imputed)"]
    rows: dict[tuple[int, str], list[dict[str, float]]] = {}
    seconds: dict[tuple[int, str], list[float]] = {}
    for k in ks:
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            order = rng.permutation(profile.n)
            cut = int(round(0.2 * profile.n))
            test, train = profile.subset(participants=np.sort(order[:cut])), profile.subset(participants=np.sort(order[cut:]))
            t0 = time.perf_counter()
            result = run(train, k, backend="offline", generators=["extractive"], seed=seed, measure_accuracy=False)
            seconds.setdefault((k, "gsc"), []).append(time.perf_counter() - t0)
            slates = {"gsc": [train.statement_ids.index(s.id) for s in result.result.statements]}
            for name, f in (("top-k agree count", top_by_agree_count), ("top-k agree rate", top_by_agree_rate),
                            ("Polis group representatives", polis_group_representatives)):
                t0 = time.perf_counter()
                slates[name] = f(train, k)
                seconds.setdefault((k, name), []).append(time.perf_counter() - t0)
            # the imputed matrix: the same offline backend's predictions the gsc run used for the data's comments
            imputed = result.result.utilities[:, : train.m]
            for name, rule in (("seq-PAV (imputed)", "seq-pav"), ("Equal Shares (imputed)", "equal-shares")):
                t0 = time.perf_counter()
                slates[name] = list(compute(rule, imputed, k).slate)
                seconds.setdefault((k, name), []).append(time.perf_counter() - t0)
            for name, slate in slates.items():
                assert len(slate) == k and len(set(slate)) == k, (name, slate)
                rows.setdefault((k, name), []).append(held_out_measures(test, slate, k))
    lines = [f"Held-out 20 % of {profile.n} participants, {seeds} seeds (mean ± sd over seeds).", "",
             "gsc seconds: the whole offline process (imputation included); seq-PAV and Equal Shares: the rule on "
             "the gsc run's imputed matrix.", "",
             "| k | method | coverage of held-out | largest uncovered agreeing group / (n/k) | seconds |",
             "|---|---|---|---|---|"]
    for k in ks:
        for name in methods:
            ms = rows[(k, name)]
            cov = np.array([m["coverage"] for m in ms])
            big = np.array([m["largest_over_quota"] for m in ms])
            lines.append(f"| {k} | {name} | {cov.mean():.3f} ± {cov.std():.3f} | {big.mean():.2f} ± {big.std():.2f} "
                         f"| {np.mean(seconds[(k, name)]):.2f} |")
    return "\n".join(lines)


def chatbot_table(k: int = 5) -> str:
    from pnyx.process import run

    if not CHATBOT.exists():
        return f"(skipped: {CHATBOT} not found)"
    profile = load(CHATBOT)
    t0 = time.perf_counter()
    result = run(profile, k, backend="offline", seed=0)
    seconds = time.perf_counter() - t0
    audit = result.audit
    lines = [f"Chatbot personalization, {profile.n} participants, k = {k}, offline default "
             f"(generators: {', '.join(result.generators)}): {seconds:.1f} s including the accuracy harness.", "",
             "| # | statement (source) | matched | mean utility of matched |", "|---|---|---|---|"]
    U = result.result.utilities
    for s, (st, members) in enumerate(zip(result.result.statements, result.result.supporters), start=1):
        text = st.text if len(st.text) < 160 else st.text[:157] + "…"
        lines.append(f"| {s} | {text} ({st.source}{', ' + st.id if st.source == 'data' else ''}) | {len(members)} "
                     f"| {U[members, result.result.slate[s - 1]].mean():.2f} |")
    bjr = audit["bjr"]
    witness = "" if bjr["satisfied"] else f" (witness: {bjr['witness']['detail']})"
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
