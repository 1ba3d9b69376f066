"""Do slates portray the population? Held-out evaluation on the shared Polis conversations (issue 8).

For each conversation in ../shared/data/polis/ and each seed: hold out 20 % of the participants
(seeded permutation), choose slates of k statements from the other 80 %, and measure on the
held-out people's observed votes (definitions: :mod:`pnyx.evaluate.portrayal`):

* coverage — share of held-out people who agree with at least one slate statement they voted on;
* portrayal gain — their votes on the slate pick their 20 nearest training participants, whose
  majority predicts their agree/disagree votes on every other statement: accuracy minus the
  per-statement majority's on the same votes (percentage points);
* JR gap — the largest group of held-out people who agree with one statement off the slate and
  with no slate statement, as a multiple of n_held_out / k (as in benchmarks/process.py).

Methods: ``gsc`` as the offline process runs it on vote data — the training votes imputed by a
discriminative backend (``cf`` by default: on these votes the ``offline`` hybrid chooses cf alone,
see benchmarks/README.md; ``--backend offline`` runs the hybrid), then ``pnyx.rules.compute("gsc",
U, k, ...)`` over the data's statements without the meta ones — with tiebreak "lowest" (before
issue 8), "distinctive" (the default now) and tolerances; top-k by agree count; Polis-style group
representatives (agree rate in the group minus outside it, groups in turn by size; and Polis's
repness with proportional seats, as in benchmarks/process.py).

Run:  .venv/bin/python benchmarks/portrayal.py [--seeds 5] [--k 5 10] [--backend cf] [--tolerance 0.25 0.5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from pnyx.evaluate.portrayal import group_representatives, held_out, split_participants, top_by_agree_count
from pnyx.io import load
from pnyx.queries import get_discriminative
from pnyx.rules import compute

REPO = Path(__file__).resolve().parents[1]
POLIS = REPO.parent / "shared" / "data" / "polis"
BEFORE, DEFAULT = "gsc, lowest (before)", "gsc, distinctive (default)"
BASELINES = ("top-k by agree count", "group reps: agree-rate difference, round-robin",
             "group reps: Polis repness, proportional seats")


def slates(votes_train: np.ndarray, U: np.ndarray, groups: list, k: int, pool: list[int],
           tolerances: list[float]) -> dict[str, list[int]]:
    """Every method's slate (columns of the profile) from the training votes and their imputed utilities."""
    def gsc(**params) -> list[int]:
        return [pool[c] for c in compute("gsc", U[:, pool], k, **params).slate]

    out = {BEFORE: gsc(tiebreak="lowest"), DEFAULT: gsc(tiebreak="distinctive")}
    for tol in tolerances:
        out[f"gsc, distinctive, tolerance {tol:g}"] = gsc(tiebreak="distinctive", tolerance=tol)
    out[BASELINES[0]] = top_by_agree_count(votes_train, k, pool=pool)
    out[BASELINES[1]] = group_representatives(votes_train, groups, k, pool=pool)
    out[BASELINES[2]] = group_representatives(votes_train, groups, k, score="repness", seats="proportional", pool=pool)
    return out


def evaluate(folder: Path, seeds: int, ks: list[int], backend: str, tolerances: list[float]) -> tuple[dict, dict]:
    """{(k, method): [HeldOut per seed]} and facts about the conversation."""
    profile = load(folder)
    meta = set(profile.info.get("meta_comments") or [])
    pool = [j for j, s in enumerate(profile.statements) if s.id not in meta]
    votes = profile.observed_values()
    results: dict[tuple[int, str], list] = {}
    seconds = 0.0
    for seed in range(seeds):
        train, test = split_participants(profile.n, fraction=0.2, seed=seed)
        part = profile.subset(participants=train)
        t0 = time.perf_counter()
        U = get_discriminative(backend, {"seed": seed}).predict(part).apply(part).utilities
        seconds += time.perf_counter() - t0
        groups = part.groups()
        for k in ks:
            for name, slate in slates(votes[train], U, groups, k, pool, tolerances).items():
                assert len(slate) == k == len(set(slate)), (name, slate)
                results.setdefault((k, name), []).append(held_out(votes[train], votes[test], slate, k, pool=pool))
    facts = {"n": profile.n, "m": len(pool), "meta": len(meta), "held_out": int(round(0.2 * profile.n)),
             "impute_seconds": seconds / seeds}
    return results, facts


def _ms(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    a = np.asarray(values, dtype=float) * scale
    return f"{np.nanmean(a):.{digits}f} ± {np.nanstd(a):.{digits}f}"


def table(name: str, results: dict, facts: dict, ks: list[int]) -> str:
    meta = f" ({facts['meta']} meta left out)" if facts["meta"] else ""
    lines = [f"**{name}** — {facts['n']} participants ({facts['held_out']} held out per seed), {facts['m']} statements"
             f"{meta}; imputation {facts['impute_seconds']:.1f} s "
             "per seed", "",
             "| k | method | coverage | portrayal gain (points) | neighbours' accuracy | majority accuracy | JR gap |",
             "|---|---|---|---|---|---|---|"]
    for k in ks:
        for method in [m for (kk, m) in results if kk == k]:
            rs = results[(k, method)]
            p = [r.portrayal for r in rs]
            lines.append(f"| {k} | {method} | {_ms([r.coverage for r in rs])} | {_ms([x.gain for x in p], 100, 1)} "
                         f"| {_ms([x.accuracy for x in p], 100, 1)} % | {_ms([x.baseline_accuracy for x in p], 100, 1)} % "
                         f"| {_ms([r.jr_gap for r in rs], digits=2)} |")
    return "\n".join(lines)


def verdict(name: str, results: dict, ks: list[int], method: str = DEFAULT) -> list[str]:
    """Paired over seeds: the method's gain minus the best baseline's, its coverage and JR gap minus gsc-before's."""
    out = []
    for k in ks:
        gain = lambda m: np.array([r.portrayal.gain for r in results[(k, m)]]) * 100  # noqa: E731
        best = max(BASELINES, key=lambda m: gain(m).mean())
        dg = gain(method) - gain(best)
        dc = np.array([a.coverage - b.coverage for a, b in zip(results[(k, method)], results[(k, BEFORE)])])
        dj = np.array([a.jr_gap - b.jr_gap for a, b in zip(results[(k, method)], results[(k, BEFORE)])])
        met = dg.mean() >= 0 and dc.mean() >= 0 and dj.mean() <= 0
        out.append(f"| {name} | {k} | {method} | {best} | {dg.mean():+.1f} ± {dg.std():.1f} | {dc.mean():+.3f} ± {dc.std():.3f} "
                   f"| {dj.mean():+.2f} ± {dj.std():.2f} | {'yes' if met else 'no'} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--backend", default="cf", help="discriminative backend that imputes the training votes")
    parser.add_argument("--tolerance", type=float, nargs="*", default=[0.25, 0.5])
    parser.add_argument("--data", type=Path, default=POLIS)
    args = parser.parse_args()
    t0 = time.perf_counter()
    print(f"# pnyx portrayal benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; backend "
          f"{args.backend}; {args.seeds} seeds; mean ± sd over seeds)\n")
    summary = []
    methods = [DEFAULT] + [f"gsc, distinctive, tolerance {t:g}" for t in args.tolerance]
    for folder in sorted(p for p in args.data.iterdir() if (p / "comments.csv").is_file()):
        results, facts = evaluate(folder, args.seeds, args.k, args.backend, args.tolerance)
        print(table(folder.name, results, facts, args.k) + "\n", flush=True)
        for m in methods:
            summary += verdict(folder.name, results, args.k, m)
    print("Target, paired over seeds (gain: the gsc variant's minus the best baseline's, points; coverage and JR gap: "
          "the variant's minus gsc-before's):\n")
    print("| conversation | k | gsc variant | best baseline | gain − best baseline's | coverage − before's "
          "| JR gap − before's | met |\n|---|---|---|---|---|---|---|---|")
    print("\n".join(summary))
    print(f"\n{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
