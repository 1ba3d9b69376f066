"""Accuracy of the Bradley–Terry conversion (pnyx.pairwise) on held-out pairwise comparisons.

For each *Ask Opinion* question of the Global Dialogues round-6 UK export, hide a seeded 20 % of the
strict comparisons ("Thought A" / "Thought B"), fit on the rest and predict which thought each
held-out comparison preferred. Predictors: the per-participant Bradley–Terry fit (the conversion
``pnyx run`` uses on pairwise-only data) at several personal-prior precisions, the population
Bradley–Terry fit (no personal term), each thought's win rate in the training comparisons, and a
coin (50 %). All are scored on the same held-out comparisons in the same run.

    .venv/bin/python benchmarks/pairwise.py [--seeds 5] [--data ../shared/data/global-dialogues/GD6UK]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from pnyx.io.global_dialogues import questions, read_global_dialogues
from pnyx.pairwise import bradley_terry, held_out_accuracy

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "global-dialogues" / "GD6UK"


def win_rate_accuracy(train: np.ndarray, test: np.ndarray, m: int) -> float:
    wins = np.bincount(train[:, 1], minlength=m)
    games = wins + np.bincount(train[:, 2], minlength=m)
    rate = np.where(games > 0, wins / np.maximum(games, 1), 0.5)
    diff = rate[test[:, 1]] - rate[test[:, 2]]
    return float(np.mean(np.where(diff > 0, 1.0, np.where(diff == 0, 0.5, 0.0))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--frac", type=float, default=0.2)
    args = parser.parse_args()

    priors = (0.3, 1.0, 3.0)
    names = [f"Bradley–Terry per participant (personal prior {p:g})" for p in priors] + [
        "Bradley–Terry, population only", "baseline: training win rate", "baseline: coin"]
    rows: dict[str, list[float]] = {n: [] for n in names}
    seconds: dict[str, list[float]] = {n: [] for n in names}
    held = 0
    listed = questions(args.data)
    for q in listed:
        profile = read_global_dialogues(args.data, question=q.id)
        pw, n, m = profile.pairwise, profile.n, profile.m
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            test_mask = rng.random(len(pw)) < args.frac
            train, test = pw[~test_mask], pw[test_mask]
            held += len(test)
            for prior, name in zip(priors, names):
                t = time.perf_counter()
                fit = bradley_terry(train, n, m, personal_prior=prior)
                seconds[name].append(time.perf_counter() - t)
                rows[name].append(held_out_accuracy(fit, test))
            t = time.perf_counter()
            fit = bradley_terry(train, n, m, personal=False)
            seconds[names[3]].append(time.perf_counter() - t)
            rows[names[3]].append(held_out_accuracy(fit, test))
            rows[names[4]].append(win_rate_accuracy(train, test, m))
            rows[names[5]].append(0.5)

    print(f"Global Dialogues GD6UK, {len(listed)} questions × {args.seeds} seeds: {held} held-out strict comparisons "
          f"({args.frac:.0%} of each question's, seeded)\n")
    print("| predictor | accuracy (mean ± sd over question × seed) | min | max | seconds per fit |")
    print("|---|---|---|---|---|")
    for name in names:
        a = np.array(rows[name])
        sec = f"{np.mean(seconds[name]):.2f}" if seconds[name] else ""
        print(f"| {name} | {a.mean():.1%} ± {a.std():.1%} | {a.min():.1%} | {a.max():.1%} | {sec} |")


if __name__ == "__main__":
    main()
