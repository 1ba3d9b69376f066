"""How far can a choice among GSC's exact ties go? The portrayal target (issue 8) over GSC's tie tree.

The GSC rule (Fish et al., arXiv 2309.01291) may choose any of a round's exact ties (the candidates whose r-th
highest utility among the unmatched equals the best) and keep BJR (where a statement may hold several seats, as
in the process). On each split of ``benchmarks/portrayal.py`` (same seeds, cf imputation and competing
statements) this script enumerates the slates reachable by such
choices — every round, each exact tie, the matched group as :func:`pnyx.rules.gsc.gsc_round` forms it (fewest
alternatives, then lowest row) — up to ``--budget`` slates per split, shared evenly among each round's ties so
that every round-1 tie is explored; the first slate is the lowest-column rule's (gsc-before). Three ways to
choose among them, each judged on the held-out votes:

* *hindsight*: on the held-out votes (:func:`pnyx.evaluate.portrayal.held_out`), the largest portrayal gain
  among the slates whose held-out coverage is at least gsc-before's and whose JR gap is at most its. It reads
  the answers no criterion may read, and it is the maximum over hundreds of noisy measurements, so it is
  optimistic: a bound on what a tie rule could reach, not a reachable value. *Split-half* removes the
  selection's own noise: the held-out people in two seeded halves, the slate chosen so on one half and measured
  on the other, both ways, averaged — what a rule that knew as much as half the held-out answers would reach;
* *cross-validated*: a criterion that reads the training participants only — ``--folds``-fold cross-validation
  among them (the same three measures, each fold's people held out from the others), then the slate with the
  largest cross-validated gain among those whose cross-validated coverage and JR gap are no worse than
  gsc-before's. That slate is then measured on the held-out votes and judged as the portrayal table's rows
  are (:func:`portrayal.verdict`'s rule: gain against the best baseline, coverage and JR gap against
  gsc-before, paired over seeds).

Run:  .venv/bin/python benchmarks/portrayal_oracle.py [--seeds 5] [--first-seed 0] [--k 5] [--budget 1000]
      [--folds 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import numpy as np

from pnyx.data import Profile
from pnyx.evaluate.portrayal import HeldOut, held_out, split_participants
from pnyx.io import load
from pnyx.process import PoolPolicy, eligible_columns
from pnyx.queries import get_discriminative
from pnyx.rules import compute
from pnyx.rules.gsc import round_sizes
from portrayal import BEFORE, POLIS, baseline_slates, best_baseline, gsc_ties, verdict

PICK = "cross-validated pick"


def reachable(U: np.ndarray, k: int, budget: int) -> list[list[int]]:
    """Slates (columns of U, in round order, each column once) that GSC returns for some choice among its exact
    ties, depth first in increasing column order (the first is the lowest-column rule's), at most ``budget``:
    each node shares what is left of its budget evenly among its remaining ties (each gets at least one)."""
    sizes = round_sizes(U.shape[0], k)
    out: list[list[int]] = []

    def grow(unmatched: np.ndarray, available: np.ndarray, slate: list[int], budget: int) -> int:
        if len(slate) == k:
            out.append(slate)
            return 1
        ties, group_of = gsc_ties(U, unmatched, available, sizes[len(slate)])
        used = 0
        for i, c in enumerate(ties):
            if used >= budget:
                break
            left = unmatched.copy()
            left[group_of(c)] = False
            used += grow(left, np.delete(available, c), slate + [int(available[c])],
                         max(1, (budget - used) // (ties.size - i)))
        return used

    grow(np.ones(U.shape[0], dtype=bool), np.arange(U.shape[1]), [], budget)
    return out


def measures(rows: list[HeldOut]) -> np.ndarray:
    """(coverage, portrayal gain in points, JR gap) per slate."""
    return np.array([(h.coverage, h.portrayal.gain * 100, h.jr_gap) for h in rows])


def fold_measures(votes: np.ndarray, slates: list[list[int]], k: int, pool: list[int], folds: int,
                  seed: int) -> np.ndarray:
    """:func:`measures` of every slate on each of ``folds`` folds of the rows of ``votes`` (a seeded
    permutation; each fold held out from the others): slates × folds × 3."""
    n = votes.shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    out = np.empty((len(slates), folds, 3))
    for f in range(folds):
        held = np.sort(perm[f::folds])
        rest = np.setdiff1d(np.arange(n), held)
        out[:, f] = measures([held_out(votes[rest], votes[held], S, k, pool=pool) for S in slates])
    return out


def no_worse(M: np.ndarray) -> np.ndarray:
    """The slates whose coverage is at least the first's and whose JR gap is at most its."""
    return (M[:, 0] >= M[0, 0] - 1e-12) & (M[:, 2] <= M[0, 2] + 1e-12)


class Split(NamedTuple):
    """One split of a conversation, as benchmarks/portrayal.py makes it: the training participants' cf utilities."""

    folder: Path
    seed: int
    votes: np.ndarray
    """Every participant's observed votes."""
    train: np.ndarray
    test: np.ndarray
    part: Profile
    """The training participants' profile."""
    U: np.ndarray


def splits(data: Path, seeds: range) -> Iterator[Split]:
    """Every Polis export folder under ``data``, each split by every seed of ``seeds`` (20 % held out)."""
    folders = sorted(p for p in data.iterdir() if (p / "comments.csv").is_file()) if data.is_dir() else []
    if not folders:
        raise SystemExit(f"no Polis export folders under {data} (see ../shared/data/README.md)")
    for folder in folders:
        profile = load(folder)
        votes = profile.observed_values()
        for seed in seeds:
            train, test = split_participants(profile.n, fraction=0.2, seed=seed)
            part = profile.subset(participants=train)
            U = get_discriminative("cf", {"seed": seed}).predict(part).apply(part).utilities
            yield Split(folder, seed, votes, train, test, part, U)


def print_summary(summary: dict, bounds: dict, method: str, columns: Sequence[str]) -> None:
    """The paired target of ``method`` per conversation and k (:func:`portrayal.verdict`), after the mean gains of
    the best baseline, gsc-before and ``columns`` (``bounds``: (conversation, k) → [one value per column, per
    seed]; ``summary``: conversation → {(k, method): [HeldOut per seed]})."""
    print(f"\nPaired over the seeds (mean ± standard error), for the {method}: its gain minus the best baseline's "
          "(the baseline with the largest mean gain) / coverage minus gsc-before's / JR gap minus gsc-before's, met as "
          f"in the portrayal table (portrayal.verdict); the mean gains of gsc-before and of {', '.join(columns)}:\n")
    print(f"| conversation | k | best baseline (mean gain) | gsc-before | {' | '.join(columns)} | {method}: target |")
    print("|---" * (5 + len(columns)) + "|")
    for (name, k), rows in bounds.items():
        results = summary[name]
        best = best_baseline(results, k)
        gain = {m: 100 * np.mean([h.portrayal.gain for h in results[(k, m)]]) for m in (best, BEFORE)}
        values = " | ".join(f"{v:.1f}" for v in np.mean(rows, axis=0))
        print(f"| {name} | {k} | {best} ({gain[best]:.1f}) | {gain[BEFORE]:.1f} | {values} "
              f"| {verdict(results, k, method)[0]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--k", type=int, nargs="+", default=[5])
    parser.add_argument("--budget", type=int, default=1000, help="at most this many slates per split")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=POLIS)
    args = parser.parse_args()
    t0 = time.perf_counter()
    print(f"# GSC's exact-tie slates ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; backend cf; seeds "
          f"{args.first_seed}–{args.first_seed + args.seeds - 1}; budget {args.budget}; {args.folds}-fold "
          "cross-validation; gains in points, coverage and JR gap on the held-out votes)\n")
    print("| conversation | k | seed | slates (admissible in hindsight / cross-validated) | gsc-before: coverage, "
          "gain, JR gap | hindsight: best gain | split-half gain | cross-validated pick: coverage, gain, JR gap "
          "| baselines' gain (coverage): top-k, group reps, repness | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary: dict[str, dict] = {}  # conversation → {(k, method): [HeldOut per seed]}, as portrayal.verdict reads
    bounds: dict[tuple[str, int], list] = {}  # (conversation, k) → [(hindsight, split-half) per seed]
    for folder, seed, votes, train, test, part, U in splits(args.data, range(args.first_seed,
                                                                           args.first_seed + args.seeds)):
        groups = part.groups()
        for k in args.k:
            t = time.perf_counter()
            pool = np.flatnonzero(eligible_columns(part, k, PoolPolicy())[0])
            P = pool.tolist()
            slates = [[int(pool[c]) for c in S] for S in reachable(U[:, pool], k, args.budget)]
            assert slates[0] == [P[c] for c in compute("gsc", U[:, pool], k, tiebreak="lowest").slate]
            held = [held_out(votes[train], votes[test], S, k, pool=P) for S in slates]
            H = measures(held)
            halves = [measures([held_out(votes[train], votes[np.sort(half)], S, k, pool=P) for S in slates])
                      for half in np.array_split(np.random.default_rng(seed).permutation(test), 2)]
            split_half = []
            for A, B in (halves, halves[::-1]):
                ok = no_worse(A)
                split_half.append(B[np.flatnonzero(ok)[np.argmax(A[ok, 1])], 1])
            C = fold_measures(votes[train], slates, k, P, args.folds, seed).mean(axis=1)
            hindsight, fair = no_worse(H), no_worse(C)
            pick = int(np.flatnonzero(fair)[np.argmax(C[fair, 1])])
            base = {name: held_out(votes[train], votes[test], S, k, pool=P)
                    for name, S in baseline_slates(votes[train], groups, k, P).items()}
            B = measures(list(base.values()))
            print(f"| {folder.name} | {k} | {seed} | {len(slates):,} ({hindsight.sum()} / {fair.sum()}) "
                  f"| {H[0, 0]:.3f}, {H[0, 1]:.1f}, {H[0, 2]:.2f} | {H[hindsight, 1].max():.1f} | {np.mean(split_half):.1f} "
                  f"| {H[pick, 0]:.3f}, {H[pick, 1]:.1f}, {H[pick, 2]:.2f} "
                  f"| {', '.join(f'{g:.1f} ({c:.3f})' for c, g, _ in B)} | {time.perf_counter() - t:.0f} |",
                  flush=True)
            results = summary.setdefault(folder.name, {})
            for method, h in ((BEFORE, held[0]), (PICK, held[pick]), *base.items()):
                results.setdefault((k, method), []).append(h)
            bounds.setdefault((folder.name, k), []).append((H[hindsight, 1].max(), np.mean(split_half)))
    print_summary(summary, bounds, PICK, ("hindsight bound", "split-half"))
    print(f"\n{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
