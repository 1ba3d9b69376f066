"""Discriminative queries: held-out accuracy on real data and collaborative-filtering throughput, in one run.

    .venv/bin/python benchmarks/queries.py            # prints a markdown table
    .venv/bin/python benchmarks/queries.py --seeds 3  # 3 seeds for vote-held-out and member seeds (default 5)

* chatbot_personalization (../shared/data), statement-held-out, 600 ratings: every installed no-network
  backend (cf, text, hybrid, offline), llm only when PNYX_LLM_BASE_URL and PNYX_LLM_MODEL are set, and the
  two baselines measured in the same run; then cf, text and their hybrid with member seeds 0..S−1 (cf's
  ALS start and validation split, text's penalty folds), because the hybrid's choice can flip with them.
* scoop-hivemind-biodiversity (examples/), vote-held-out: 10 % of agree/disagree votes hidden, mean
  over seeds 0..S−1, against the per-comment, per-participant and global majority votes.
* throughput: seeded synthetic rank-5 ratings, 10,000 participants × 1,000 statements, 5 % observed;
  seconds for the full cf prediction (model selection over the rank × λ grid, refit, all 10⁷ predictions
  and their uncertainty), for one fixed-hyper-parameter fit, and for the participant-mean baseline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path

import numpy as np

from pnyx.data import Participant, Profile, Statement
from pnyx.evaluate.accuracy import statement_held_out, vote_held_out
from pnyx.io import load
from pnyx.queries import DISCRIMINATIVE, get_discriminative, load_builtins
from pnyx.queries.cf import fit_biased_mf, holdout_mask
from pnyx.queries.base import participant_means
from pnyx.queries.hybrid import Hybrid

REPO = Path(__file__).resolve().parents[1]
CHATBOT = REPO.parent / "shared" / "data" / "chatbot_personalization"
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"


def backends() -> list[str]:
    load_builtins()
    names = [b for b in ("cf", "text") if b in DISCRIMINATIVE] + ["hybrid", "offline"]
    if os.environ.get("PNYX_LLM_BASE_URL") and os.environ.get("PNYX_LLM_MODEL"):
        names.insert(2, "llm")
    return names


def hybrid_members() -> list[str]:
    return [b for b in ("cf", "text", "llm") if b in backends()]


def make(name: str):
    return get_discriminative("hybrid", backends=hybrid_members()) if name == "hybrid" else get_discriminative(name)


def chatbot_rows() -> list[str]:
    profile = load(CHATBOT)
    rows, baselines = [], None
    for name in backends():
        t = time.perf_counter()
        report = statement_held_out(profile, make(name))
        m = report.metrics
        rows.append(f"| {name} (`{report.backend}`) | {m['mae']:.3f} | {m['rmse']:.3f} | {m['exact']:.1%} | "
                    f"{m['within_1']:.1%} | {m['spearman']:.2f} | {time.perf_counter() - t:.1f} |")
        baselines = report.baselines
    for name, m in baselines.items():
        rows.append(f"| baseline: {name} | {m['mae']:.3f} | {m['rmse']:.3f} | {m['exact']:.1%} | {m['within_1']:.1%} | "
                    f"{m['spearman']:.2f} | |")
    return rows


def chatbot_seed_rows(seeds: int) -> list[str]:
    profile = load(CHATBOT)
    members = [b for b in ("cf", "text") if b in DISCRIMINATIVE]
    mae: dict[str, list[float]] = {}
    for seed in range(seeds):
        run = {b: get_discriminative(b, seed=seed) for b in members}
        run["hybrid"] = Hybrid(list(run.values()))
        for name, backend in run.items():
            mae.setdefault(name, []).append(statement_held_out(profile, backend).metrics["mae"])
    return [f"| {name} | {np.mean(v):.3f} | {min(v):.3f} | {max(v):.3f} | {' '.join(f'{x:.3f}' for x in v)} |"
            for name, v in mae.items()]


def polis_rows(seeds: int) -> list[str]:
    profile = load(POLIS)
    rows, baselines = [], {}
    for name in ("cf", "hybrid", "offline"):
        t = time.perf_counter()
        reports = [vote_held_out(profile, make(name), frac=0.1, seed=s) for s in range(seeds)]
        acc = [r.metrics["accuracy"] for r in reports]
        auc = [r.metrics["auc"] for r in reports]
        rows.append(f"| {name} (`{reports[0].backend}`) | {np.mean(acc):.1%} ± {np.std(acc):.1%} | {np.mean(auc):.3f} | "
                    f"{reports[0].metrics['n']} | {(time.perf_counter() - t) / seeds:.1f} |")
        for b in reports[0].baselines:
            baselines[b] = ([r.baselines[b]["accuracy"] for r in reports], [r.baselines[b]["auc"] for r in reports])
    for b, (acc, auc) in baselines.items():
        rows.append(f"| baseline: {b} | {np.mean(acc):.1%} ± {np.std(acc):.1%} | {np.mean(auc):.3f} | | |")
    return rows


def synthetic(n: int = 10_000, m: int = 1_000, rank: int = 5, density: float = 0.05, seed: int = 0) -> Profile:
    rng = np.random.default_rng(seed)
    truth = 2.0 + 0.8 * (rng.normal(size=(n, rank)) @ rng.normal(size=(rank, m))) / np.sqrt(rank)
    observed = rng.random((n, m)) < density
    U = np.where(observed, np.clip(np.round(truth + rng.normal(0, 0.5, (n, m))), 0, 4), np.nan)
    return Profile([Participant(f"p{i}") for i in range(n)], [Statement(f"s{j}", "") for j in range(m)], "rating",
                   U, observed, np.where(observed, 0, -1).astype(np.int16))


def throughput_rows() -> list[str]:
    profile = synthetic()
    val = holdout_mask(profile.observed, 0.1, seed=1)
    train = profile.hide(val)
    truth = profile.utilities[val]
    rows = []

    def row(what: str, run) -> None:
        t = time.perf_counter()
        pred = run()
        sec = time.perf_counter() - t
        rmse = np.sqrt(np.mean((pred[val] - truth) ** 2))
        rows.append(f"| {what} | {sec:.1f} | {rmse:.3f} |")

    row("baseline: participant mean", lambda: np.broadcast_to(participant_means(train)[:, None], profile.utilities.shape))
    row("cf, one fit (rank 5, λ 10, 15 ALS sweeps)",
        lambda: np.clip(fit_biased_mf(train.utilities, train.observed, rank=5, reg=10.0).predict(), 0, 4))
    row("cf backend: 4×4 grid selection + refit + predictions + uncertainty",
        lambda: get_discriminative("cf").predict(train).utilities)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(f"{dt.date.today()} · {platform.processor() or platform.machine()} · {os.cpu_count()} cores · "
          f"Python {platform.python_version()}\n")
    if CHATBOT.is_dir():
        print("chatbot_personalization, statement-held-out (600 ratings; each statement hidden from everyone in turn)\n")
        print("| predictor | MAE | RMSE | exact | within 1 | Spearman | seconds |\n|---|---|---|---|---|---|---|")
        print("\n".join(chatbot_rows()) + "\n")
        print(f"chatbot_personalization, statement-held-out MAE with member seeds 0..{args.seeds - 1}\n")
        print("| predictor | mean | min | max | per seed |\n|---|---|---|---|---|")
        print("\n".join(chatbot_seed_rows(args.seeds)) + "\n")
    print(f"scoop-hivemind-biodiversity, vote-held-out (10 % of agree/disagree votes; mean ± sd over {args.seeds} seeds)\n")
    print("| predictor | sign accuracy | AUC | n | seconds per seed |\n|---|---|---|---|---|")
    print("\n".join(polis_rows(args.seeds)) + "\n")
    print("throughput: 10,000 × 1,000 synthetic rank-5 ratings, 5 % observed (hold-out RMSE on 10 % of them)\n")
    print("| predictor | seconds | hold-out RMSE |\n|---|---|---|")
    print("\n".join(throughput_rows()))


if __name__ == "__main__":
    main()
