"""Beyond GSC's ties: slates that keep BJR, found by swaps from GSC's. The portrayal target (issue 8) over the BJR
slates a few swaps from gsc-before's.

``portrayal_oracle.py`` explores only the slates GSC can return (some choice among its exact ties). BJR (Fish et
al., arXiv 2309.01291) is a property of the slate, checked here exactly (:func:`pnyx.axioms.check` ``"bjr"``, the
utility-maximising balanced assignment, every competing statement as a possible blocker), so a slate outside
GSC's tie tree may keep it as well. On each split of ``benchmarks/portrayal.py`` (same seeds, cf imputation and
competing statements) this script starts from gsc-before's slate (the lowest-column rule) and makes swaps (one
slate statement out, one competing statement in), each time the swap with the best objective among those that
improve it and keep the constraints, at most ``--passes`` swaps, the slate always *admissible*: BJR holds on
the training utilities, or, where gsc-before's own slate violates it (statements chosen once, as
``compute("gsc", …)`` does), its largest blocking coalition is no larger than gsc-before's. Two objectives:

* *split-half*: the held-out people in two seeded halves; the search maximises the portrayal gain on one half
  with that half's coverage at least gsc-before's and JR gap at most its, and the slate found is measured on the
  other half, both ways, averaged — what a choice among BJR slates reaches when it knows half the held-out
  answers (a bound, not a rule);
* *cross-validated*: a rule that reads the training participants only — the same on ``--folds``-fold
  cross-validation among them (:func:`portrayal_oracle.fold_measures`), with cross-validated coverage at least
  gsc-before's plus ``--margin`` and JR gap at most its (``--every-fold``: on every fold, not on their mean;
  ``--coverage-z``: training coverage no worse than gsc-before's at that many standard errors of a paired
  bootstrap, :func:`coverage_bound`). Its
  slate is measured on the held-out votes and judged as the portrayal table's rows are (:func:`portrayal.verdict`).

Run:  .venv/bin/python benchmarks/portrayal_swaps.py [--seeds 5] [--first-seed 0] [--k 5] [--margin 0]
      [--passes 5] [--folds 5] [--every-fold] [--coverage-z Z] [--no-split-half]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from pnyx.axioms import check
from pnyx.evaluate.portrayal import held_out
from pnyx.process import PoolPolicy, eligible_columns
from pnyx.rules import compute
from portrayal import BEFORE, POLIS, baseline_slates
from portrayal_oracle import fold_measures, measures, print_summary, splits

PICK = "cross-validated BJR swaps"


class Search(NamedTuple):
    slate: list[int]
    swaps: int
    """Swaps made."""
    checks: int
    """BJR checks made (improving swaps whose slate was checked, admissible or not)."""


def swap_search(objective: Callable[[list[list[int]]], np.ndarray], start: list[int], pool: list[int],
                admissible: Callable[[list[int]], bool], *, margin: float = 0.0, every_part: bool = False,
                passes: int = 5, covers: Callable[[list[list[int]]], np.ndarray] | None = None) -> Search:
    """Best-improvement swaps from ``start``. ``objective`` gives (coverage, gain, JR gap) per slate and part of
    the people it is measured on (slates × parts × 3). A swap is taken when its mean gain over the parts is above
    the current slate's, its mean coverage at least the start's plus ``margin`` and its mean JR gap at most the
    start's — with ``every_part``, coverage and JR gap so on every part — ``covers`` (if given) holds for it, and
    it is ``admissible`` (the best such swap; BJR is checked in order of gain)."""
    base = objective([start])[0]
    best = base[:, 1].mean()
    slate, swaps, checks = list(start), 0, 0
    for _ in range(passes):
        near = [slate[:i] + [c] + slate[i + 1:] for i in range(len(slate)) for c in pool if c not in slate]
        M = objective(near)
        gain = M[:, :, 1].mean(axis=1)
        kept = M if every_part else M.mean(axis=1, keepdims=True)
        reference = base if every_part else base.mean(axis=0, keepdims=True)
        ok = np.flatnonzero((gain > best + 1e-9)
                            & (kept[:, :, 0] >= reference[:, 0] + margin - 1e-12).all(axis=1)
                            & (kept[:, :, 2] <= reference[:, 2] + 1e-12).all(axis=1)
                            & (True if covers is None else covers(near)))
        for i in ok[np.argsort(-gain[ok], kind="stable")]:
            checks += 1
            if admissible(near[i]):
                slate, best, swaps = near[i], gain[i], swaps + 1
                break
        else:
            break
    return Search(slate, swaps, checks)


def coverage_bound(votes: np.ndarray, start: list[int], z: float, seed: int, draws: int = 400
                   ) -> Callable[[list[list[int]]], np.ndarray]:
    """Which slates keep coverage (:func:`pnyx.evaluate.portrayal.coverage`) at least the start's on ``votes`` with
    confidence: the ``Φ(−z)`` quantile of the paired difference over ``draws`` Poisson bootstrap draws of the
    rows (seeded) is ≥ 0 — a choice among many slates by in-sample coverage overrates the one it keeps, and a swap
    that changes who is covered for many people must show more than one that changes it for few."""
    weights = np.random.default_rng(seed).poisson(1.0, (draws, votes.shape[0])).astype(float)
    q = 0.5 * math.erfc(z / math.sqrt(2))

    def shares(slates: list[list[int]]) -> np.ndarray:
        seen = np.stack([~np.isnan(votes[:, S]).all(axis=1) for S in slates], axis=1).astype(float)
        agree = np.stack([(votes[:, S] == 1).any(axis=1) for S in slates], axis=1).astype(float)
        return (weights @ agree) / np.maximum(weights @ seen, 1.0)

    base = shares([start])
    return lambda slates: np.quantile(shares(slates) - base, q, axis=0) >= -1e-12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--k", type=int, nargs="+", default=[5])
    parser.add_argument("--margin", type=float, default=0.0, help="cross-validated coverage above gsc-before's")
    parser.add_argument("--passes", type=int, default=5, help="at most this many swaps")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--every-fold", action="store_true",
                        help="coverage and JR gap no worse than gsc-before's on every fold, not on their mean")
    parser.add_argument("--coverage-z", type=float, default=None,
                        help="also keep training coverage at least gsc-before's at this many standard errors "
                             "(paired bootstrap)")
    parser.add_argument("--no-split-half", action="store_true", help="the cross-validated rule only")
    parser.add_argument("--data", type=Path, default=POLIS)
    args = parser.parse_args()
    t0 = time.perf_counter()
    print(f"# BJR slates by swaps from gsc-before ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; backend cf; "
          f"seeds {args.first_seed}–{args.first_seed + args.seeds - 1}; at most {args.passes} swaps; "
          f"{args.folds}-fold cross-validation, coverage margin {args.margin:g}"
          f"{'' if args.coverage_z is None else f', bootstrap coverage bound at z = {args.coverage_z:g}'}; gains in points, coverage and JR gap "
          "on the held-out votes)\n")
    print("| conversation | k | seed | gsc-before: coverage, gain, JR gap | split-half gain | cross-validated: "
          "coverage, gain, JR gap (swaps, checks) | baselines' gain (coverage): top-k, group reps, repness | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    summary: dict[str, dict] = {}  # conversation → {(k, method): [HeldOut per seed]}, as portrayal.verdict reads
    bounds: dict[tuple[str, int], list] = {}  # (conversation, k) → [(split-half,) per seed]
    for folder, seed, votes, train, test, part, U in splits(args.data, range(args.first_seed,
                                                                           args.first_seed + args.seeds)):
        V = votes[train]
        for k in args.k:
            t = time.perf_counter()
            pool = np.flatnonzero(eligible_columns(part, k, PoolPolicy())[0])
            P, place = pool.tolist(), {int(c): i for i, c in enumerate(pool)}
            start = [P[c] for c in compute("gsc", U[:, pool], k, tiebreak="lowest").slate]

            def bjr(S: list[int]):
                return check("bjr", U[:, pool], [place[c] for c in S])

            ratio = bjr(start).info["coalition_ratio"]

            def admissible(S: list[int]) -> bool:
                result = bjr(S)
                return result.satisfied or result.info["coalition_ratio"] <= ratio

            def on(people: np.ndarray) -> Callable[[list[list[int]]], np.ndarray]:
                return lambda slates: measures([held_out(V, votes[people], S, k, pool=P)
                                                for S in slates])[:, None]

            split_half = np.nan
            if not args.no_split_half:
                halves = [np.sort(h) for h in np.array_split(np.random.default_rng(seed).permutation(test), 2)]
                split_half = float(np.mean([on(B)([swap_search(on(A), start, P, admissible,
                                                               passes=args.passes).slate])[0, 0, 1]
                                            for A, B in (halves, halves[::-1])]))
            found = swap_search(lambda slates: fold_measures(V, slates, k, P, args.folds, seed), start, P,
                                admissible, margin=args.margin, every_part=args.every_fold,
                                passes=args.passes, covers=None if args.coverage_z is None
                                else coverage_bound(V, start, args.coverage_z, seed))
            base = {name: held_out(V, votes[test], S, k, pool=P)
                    for name, S in baseline_slates(V, part.groups(), k, P).items()}
            held = {BEFORE: held_out(V, votes[test], start, k, pool=P),
                    PICK: held_out(V, votes[test], found.slate, k, pool=P), **base}
            (H0, H1), B = measures([held[BEFORE], held[PICK]]), measures(list(base.values()))
            print(f"| {folder.name} | {k} | {seed} | {H0[0]:.3f}, {H0[1]:.1f}, {H0[2]:.2f} | {split_half:.1f} "
                  f"| {H1[0]:.3f}, {H1[1]:.1f}, {H1[2]:.2f} ({found.swaps}, {found.checks}) "
                  f"| {', '.join(f'{g:.1f} ({c:.3f})' for c, g, _ in B)} | {time.perf_counter() - t:.0f} |",
                  flush=True)
            results = summary.setdefault(folder.name, {})
            for method, h in held.items():
                results.setdefault((k, method), []).append(h)
            bounds.setdefault((folder.name, k), []).append((split_half,))
    print_summary(summary, bounds, PICK, ("split-half",))
    print(f"\n{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
