"""Adaptive queries (pnyx.planner) against exhaustive and random queries at the same budget; prints Markdown tables.

Truths (dense n × m utility matrices, 0–4):

* ``biodiversity``, ``vtaiwan``: the shared Polis conversations (scoop-hivemind.biodiversity, vtaiwan.uberx),
  observed votes kept (agree 4, pass 2, disagree 0), every other entry filled by ``cf`` (biased MF);
* ``spatial-1000``, ``spatial-10000``: a spatial model, n participants in 5 Gaussian clusters in the plane and
  m = 200 statements, utility 4·exp(−d²/2) by distance d, plus N(0, 0.2²) noise, clipped; 5 % of the
  entries (seeded) are observed.

The oracle (an LLM in a real run) answers a (participant, statement) query from the truth with noise
matched to a measured predictor error: N(0, σ²) with σ the hold-out RMSE of ``cf`` on that truth's
observed entries, clipped to 0–4, fixed per entry (asking again gives the same answer, as the cache
does). Observed entries are known to every method. Methods, all k = 10 rounds of GSC:

* exhaustive: the oracle asked for every unobserved pair (the paper's implementation);
* random: as many oracle queries as adaptive made, on uniformly random unobserved pairs; ``cf`` fills the rest;
* adaptive: :func:`pnyx.planner.adaptive_gsc` with ``cf`` as the cheap screen, refit on observed + answered
  entries before each round.

Quality is measured on the truth: BJR of the slate with the balanced assignment (verdict and the largest
blocking coalition over its required size, ≥ 1 iff violated), the total utility of the balanced
assignment (:func:`pnyx.assignment.balanced`), and each round's r-th utility among that round's unmatched.

"The exhaustive slate's true quality" is a random quantity: exhaustive GSC on one draw of the oracle's
noise moves by several per cent from the next draw (the noise decides near-ties between statements). So
every method runs on ``--draws`` draws of the noise (the same draws for all three), and the target
compares means: per truth, adaptive's mean true total over seeds × draws against exhaustive's, the same
BJR verdict as exhaustive on every draw, and the largest per-seed share of exhaustive's queries.

People: each participant makes exactly 20 judgments (answered from the truth), chosen by the planner
(:class:`pnyx.planner.PlannerChooser`, 4 waves of 5: the first wave least-rated-first, as the planner
does before it has data), least-rated-first, or at random; the slate is GSC on ``cf``'s completion.
For scale: GSC on the truth itself, and the ceiling 4·n (every participant served at the top of the
scale, which no slate exceeds). The summary pairs the choosers over the seeds. ``--planner-variants`` adds
planner choosers with other waves (:class:`PlannerWaves`: how many waves, how many of them least-rated-first,
the share of each planner wave's picks given to coverage); ``--variants-only`` leaves out least-rated-first
and the default planner (for development runs).

HTTP: ``pnyx.pipeline.run`` with the ``llm`` backend against an OpenAI-compatible server on loopback
(``benchmarks/truth_server.py``) that answers from the noisy truth; real calls counted by the client,
the server and the cache; the adaptive run repeated on its cache.

Run: .venv/bin/python benchmarks/adaptive.py [--truths biodiversity vtaiwan spatial-1000 spatial-10000]
     [--seeds 0] [--draws 4] [--skip queries people http] [--planner-variants waves=4,explore=2 spread=0.5]
     [--variants-only]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pnyx.assignment import balanced
from pnyx.axioms import check
from pnyx.planner import PlannerChooser, adaptive_gsc, choose_for_participant
from pnyx.queries.cf import fit_biased_mf, select_biased_mf
from pnyx.rules.gsc import gsc, round_sizes
from pnyx.scale import MAX_UTILITY as MAX

HERE = Path(__file__).resolve().parent
POLIS = HERE.parents[1] / "shared" / "data" / "polis"
K = 10
PER_PARTICIPANT = 20


@dataclass
class Truth:
    name: str
    T: np.ndarray
    observed: np.ndarray
    sigma: float
    """The oracle's noise: cf's hold-out RMSE on the observed entries."""


def spatial(n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (5, 2))
    x = centres[rng.integers(5, size=n)] + rng.normal(0, 0.6, (n, 2))
    y = rng.normal(0, 1.6, (m, 2))
    d2 = ((x[:, None, :] - y[None]) ** 2).sum(axis=2)
    return np.clip(4 * np.exp(-d2 / 2) + rng.normal(0, 0.2, (n, m)), 0, 4)


def make_truth(name: str, seed: int) -> Truth:
    if name in ("biodiversity", "vtaiwan"):
        from pnyx.io import load

        folder = {"biodiversity": "scoop-hivemind.biodiversity", "vtaiwan": "vtaiwan.uberx"}[name]
        profile = load(POLIS / folder)
        obs, U = profile.observed, profile.utilities
        fit = select_biased_mf(U, obs, seed=seed)
        sigma = float(np.sqrt(fit.sigma2))
        # the truth departs from cf's completion by cf's own hold-out error: else the cheap screen (cf on the
        # observed votes) would know the truth exactly and no query could help
        residual = np.random.default_rng(seed + 5).normal(0, sigma, U.shape)
        T = np.where(obs, U, np.clip(fit.predict() + residual, 0, 4))
        return Truth(name, T, obs, sigma)
    n = int(name.split("-")[1])
    T = spatial(n, 200, seed)
    obs = np.random.default_rng(seed + 1).random(T.shape) < 0.05
    fit = select_biased_mf(T, obs, seed=seed)
    return Truth(name, T, obs, float(np.sqrt(fit.sigma2)))


ORACLE_SCALE = [1.0]


def answers(truth: Truth, seed: int, draw: int = 0) -> np.ndarray:
    noise = np.random.default_rng([seed + 2, draw]).normal(0, truth.sigma * ORACLE_SCALE[0], truth.T.shape)
    return np.where(truth.observed, truth.T, np.clip(truth.T + noise, 0, 4))


class Screen:
    """cf with rank and λ chosen once on the observed entries, refit on what is known."""

    def __init__(self, V: np.ndarray, known: np.ndarray, seed: int):
        fit = select_biased_mf(V, known, seed=seed)
        self.rank, self.reg, self.sigma2, self.seed = fit.rank, fit.reg, fit.sigma2, seed

    def __call__(self, V: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fit = fit_biased_mf(np.where(known, V, np.nan), known, rank=self.rank, reg=self.reg, seed=self.seed)
        fit.sigma2 = self.sigma2
        n, m = V.shape
        P = np.clip(fit.predict(), 0, 4)
        S = fit.predictive_sd(np.arange(n), np.arange(m))
        return np.where(known, V, P), np.where(known, 0.0, S)


def quality(T: np.ndarray, slate: list[int], matching: np.ndarray) -> dict:
    a = balanced(T, slate)
    bjr = check("bjr", T, slate, assignment=a.assignment)
    rth = []
    for t, r in enumerate(round_sizes(T.shape[0], len(slate))):
        rows = np.flatnonzero(matching >= t)
        rth.append(float(np.sort(T[rows, slate[t]])[-r]))
    return {"total": float(a.total), "bjr": bool(bjr.satisfied), "ratio": float(bjr.info["coalition_ratio"]),
            "rth": rth}


def completed_gsc(T_known: np.ndarray, known: np.ndarray, seed: int) -> tuple[list[int], np.ndarray]:
    """GSC on cf's completion of the known entries."""
    V, _ = Screen(T_known, known, seed)(T_known, known)
    res = gsc(V, K)
    return res.slate, np.asarray(res.info["assignment"])


def run_queries(truth: Truth, seed: int, draw: int = 0, **options) -> list[dict]:
    """Exhaustive, random at adaptive's budget and adaptive on one draw of the oracle's noise."""
    A = answers(truth, seed, draw)
    obs = truth.observed
    rows = []
    t = time.perf_counter()
    ex = gsc(A, K)
    rows.append({"method": "exhaustive", "queries": int((~obs).sum()), "seconds": time.perf_counter() - t,
                 **quality(truth.T, ex.slate, np.asarray(ex.info["assignment"]))})

    t = time.perf_counter()
    screen = Screen(np.where(obs, A, np.nan), obs, seed)
    V0, S0 = screen(np.where(obs, A, 0.0), obs)
    res = adaptive_gsc(V0, S0, obs, K, lambda pairs: A[pairs[:, 0], pairs[:, 1]], refit=screen, **options)
    seconds = time.perf_counter() - t
    settled = sum(r["reason"] == "bounds" for r in res.rounds)
    adaptive = {"method": "adaptive", "queries": res.queries, "seconds": seconds, "settled": settled,
                **quality(truth.T, res.slate, res.matching)}

    t = time.perf_counter()
    rng = np.random.default_rng([seed + 3, draw])
    pick = rng.choice(np.flatnonzero(~obs), size=res.queries, replace=False)
    known = obs.copy()
    known.ravel()[pick] = True
    slate, matching = completed_gsc(np.where(known, A, 0.0), known, seed)
    rows.append({"method": "random, same budget", "queries": res.queries, "seconds": time.perf_counter() - t,
                 **quality(truth.T, slate, matching)})
    rows.append(adaptive)
    return rows


def summarise(draws: list[list[dict]]) -> list[dict]:
    """Per method, over the draws of the oracle's noise: means, BJR counts, and the comparison with
    exhaustive on the same draws (ratio of the mean true totals; paired per-draw ratios)."""
    ex = np.array([rows[0]["total"] for rows in draws])
    out = []
    for at, first in enumerate(draws[0]):
        rows = [d[at] for d in draws]
        total = np.array([r["total"] for r in rows])
        queries = float(np.mean([r["queries"] for r in rows]))
        out.append({"method": first["method"], "queries": queries, "share": queries / draws[0][0]["queries"],
                    "bjr": sum(r["bjr"] for r in rows),
                    "bjr_same": sum(r["bjr"] == d[0]["bjr"] for r, d in zip(rows, draws)),
                    "draws": len(rows), "ratio": max(r["ratio"] for r in rows), "total": float(total.mean()),
                    "total_sd": float(total.std(ddof=1)) if len(rows) > 1 else 0.0,
                    "vs": float(total.mean() / ex.mean() - 1), "paired": total / ex - 1,
                    "rth": np.mean([r["rth"] for r in rows], axis=0).tolist(),
                    "settled": float(np.mean([r["settled"] for r in rows])) if "settled" in first else None,
                    "seconds": float(np.mean([r["seconds"] for r in rows]))})
    return out


# -- people --------------------------------------------------------------------------------------

def least_rated(known: np.ndarray, order: np.ndarray, take: int, rng: np.random.Generator) -> None:
    """Give each participant in ``order`` ``take`` more judgments, least-rated statements first (random ties)."""
    counts = known.sum(axis=0)
    for i in order:
        free = np.flatnonzero(~known[i])
        chosen = free[np.lexsort((rng.random(free.size), counts[free]))[:take]]
        known[i, chosen] = True
        counts[chosen] += 1


@dataclass(frozen=True)
class PlannerWaves:
    """How the benchmark's planner chooser collects each participant's judgments: ``waves`` equal waves,
    the first ``explore`` of them least-rated-first, the rest by :class:`pnyx.planner.PlannerChooser`
    refit on what is known, with ``spread`` of each planner wave's picks by coverage
    (:func:`pnyx.planner.choose_for_participant`)."""

    waves: int = 4
    explore: int = 1
    spread: float = 0.0

    @classmethod
    def parse(cls, text: str) -> "PlannerWaves":
        """``"waves=4,explore=1,spread=0.5"`` (any subset; empty: the defaults)."""
        fields = dict(part.split("=") for part in text.split(",") if part)
        return cls(int(fields.get("waves", 4)), int(fields.get("explore", 1)), float(fields.get("spread", 0.0)))

    @property
    def label(self) -> str:
        return "planner" if self == PlannerWaves() else (
            f"planner (waves={self.waves}, explore={self.explore}, spread={self.spread:g})")

    def choose(self, T: np.ndarray, seed: int, rng: np.random.Generator) -> np.ndarray:
        from pnyx.data import Participant, Profile, Statement

        n, m = T.shape
        known = np.zeros((n, m), bool)
        wave = PER_PARTICIPANT // self.waves
        least_rated(known, rng.permutation(n), self.explore * wave, rng)
        participants = [Participant(f"p{i}") for i in range(n)]
        statements = [Statement(f"s{j}", f"statement {j}") for j in range(m)]
        chooser = PlannerChooser(K, PER_PARTICIPANT, seed=seed)
        for w in range(self.explore, self.waves):
            profile = Profile(participants, statements, "rating", np.where(known, T, np.nan), known.copy(),
                              np.where(known, 0, -1).astype(np.int16))
            weights = chooser.weights(profile)
            counts = known.sum(axis=0)
            limit = PER_PARTICIPANT if w == self.waves - 1 else (w + 1) * wave
            for i in rng.permutation(n):
                chosen = choose_for_participant(i, weights, known, limit, counts, spread=self.spread)
                known[i, chosen] = True
                counts[chosen] += 1
        return known


def people(truth: Truth, seed: int, variants: tuple[PlannerWaves, ...] = (), *, baselines: bool = True) -> list[dict]:
    """Random, least-rated-first and the planner (then ``variants`` of it) choosing 20 judgments per participant,
    and GSC on the truth; ``baselines`` False: random, the variants and GSC on the truth only."""
    T = truth.T
    n, m = T.shape
    rng = np.random.default_rng(seed + 4)
    out = []

    def finish(name, known, seconds):
        t = time.perf_counter()
        slate, matching = completed_gsc(np.where(known, T, 0.0), known, seed)
        out.append({"method": name, "judgments": int(known.sum()), "seconds": seconds + time.perf_counter() - t,
                    **quality(T, slate, matching)})

    t = time.perf_counter()
    known = np.zeros((n, m), bool)
    for i in range(n):
        known[i, rng.choice(m, PER_PARTICIPANT, replace=False)] = True
    finish("random", known, time.perf_counter() - t)

    if baselines:
        t = time.perf_counter()
        known = np.zeros((n, m), bool)
        least_rated(known, rng.permutation(n), PER_PARTICIPANT, rng)
        finish("least-rated-first", known, time.perf_counter() - t)
        variants = (PlannerWaves(), *variants)
    for variant in variants:
        # each chooser its own stream: adding a variant changes no other row
        own = np.random.default_rng([seed + 4, variant.waves, variant.explore, round(1000 * variant.spread)])
        t = time.perf_counter()
        finish(variant.label, variant.choose(T, seed, rng if variant == PlannerWaves() and baselines else own),
               time.perf_counter() - t)
    t = time.perf_counter()
    res = gsc(T, K)  # a reference, not a ceiling: GSC does not maximise the balanced assignment's total
    out.append({"method": "truth known (GSC on the truth)", "judgments": n * m, "seconds": time.perf_counter() - t,
                **quality(T, res.slate, np.asarray(res.info["assignment"]))})
    return out


# -- HTTP end to end -----------------------------------------------------------------------------

def http(seed: int, n: int = 200, m: int = 30, k: int = 5) -> list[dict]:
    sys.path.insert(0, str(HERE))
    from truth_server import TruthServer, truth_profile

    from pnyx.pipeline import run
    from pnyx.process import PoolPolicy, ProcessOptions
    from pnyx.queries.cache import Cache

    T = spatial(n, m, seed)
    obs = np.random.default_rng(seed + 1).random(T.shape) < 0.05
    obs[np.random.default_rng(seed).integers(n, size=m), np.arange(m)] = True
    sigma = float(np.sqrt(select_biased_mf(T, obs, seed=seed).sigma2))
    truth = Truth("http", T, obs, sigma)
    A = answers(truth, seed)
    profile = truth_profile(np.where(obs, T, np.nan))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, TruthServer(A) as server:
        os.environ.update(PNYX_LLM_BASE_URL=server.base_url, PNYX_LLM_MODEL="truth")
        for label, mode, cache in (("exhaustive", "exhaustive", "e"), ("adaptive", "adaptive", "a"),
                                   ("adaptive, rerun on its cache", "adaptive", "a")):
            before = server.requests
            t = time.perf_counter()
            with Cache(Path(tmp) / f"{cache}.sqlite") as c:
                # every statement competes: at 5 % observed few have the default minimum of observed approvals
                result = run(profile, k, backend="llm", generators=["extractive"], queries=mode, cache=c,
                             measure_accuracy=False, options=ProcessOptions(policy=PoolPolicy(min_support=0)))
                entries = c.count()
            seconds = time.perf_counter() - t
            usage = result.audit.model_usage
            r = result.result
            q = quality(T, r.slate, r.matching)
            rows.append({"method": label, "client calls": usage["calls"], "cache hits": usage["cached"],
                         "server requests": server.requests - before, "cache entries": entries,
                         "slate": " ".join(map(str, r.slate)), "total": q["total"], "bjr": q["bjr"],
                         "ratio": q["ratio"], "seconds": seconds})
    return rows


# -- tables ----------------------------------------------------------------------------------------

def fmt_rth(values):
    return f"{np.mean(values):.2f} (min {np.min(values):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--truths", nargs="+", default=["biodiversity", "vtaiwan", "spatial-1000", "spatial-10000"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--skip", nargs="*", default=[], choices=["queries", "people", "http"])
    ap.add_argument("--draws", type=int, default=4, help="draws of the oracle's noise per truth and seed")
    ap.add_argument("--oracle-scale", type=float, default=1.0,
                    help="oracle noise as a multiple of cf's hold-out RMSE (1: matched to it)")
    ap.add_argument("--planner-variants", nargs="*", default=[], metavar="SPEC",
                    help="more planner choosers for the people part, e.g. spread=0.5 or waves=4,explore=2 (PlannerWaves)")
    ap.add_argument("--variants-only", action="store_true",
                    help="people part: random, the variants and GSC on the truth only (no least-rated-first, no planner)")
    args = ap.parse_args()
    ORACLE_SCALE[0] = args.oracle_scale
    print(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, 1-minute load {os.getloadavg()[0]:.2f}, "
          f"k = {K}, oracle noise {args.oracle_scale:g} × cf's hold-out RMSE\n")
    truths = {(name, s): make_truth(name, s) for name in args.truths for s in args.seeds}
    if "queries" not in args.skip:
        print(f"Each row: the mean over {args.draws} draws of the oracle's noise (the same draws for every method); "
              "\"vs exhaustive\" = mean true total / exhaustive's mean true total − 1, then the paired per-draw "
              "ratios (min … max)\n")
        print("| truth (n × m, oracle σ) | seed | method | queries | share of exhaustive | true BJR holds | "
              "largest blocking coalition / required (worst) | true total, mean ± sd | vs exhaustive (paired min … max) | "
              "true r-th utility, mean (min) over rounds | settled rounds | seconds |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        per_round, pooled = [], {}
        for (name, s), truth in truths.items():
            rows = summarise([run_queries(truth, s, d) for d in range(args.draws)])
            n, m = truth.T.shape
            for row in rows:
                p = row["paired"]
                settled = "" if row["settled"] is None else f"{row['settled']:.1f}"
                print(f"| {name} ({n:,} × {m}, σ {truth.sigma * ORACLE_SCALE[0]:.2f}) | {s} | {row['method']} | "
                      f"{row['queries']:,.0f} | {row['share']:.1%} | {row['bjr']}/{row['draws']} | {row['ratio']:.2f} | "
                      f"{row['total']:,.1f} ± {row['total_sd']:,.1f} | {row['vs']:+.2%} ({p.min():+.1%} … {p.max():+.1%}) | "
                      f"{fmt_rth(row['rth'])} | {settled} | {row['seconds']:.1f} |", flush=True)
                per_round.append((name, s, row["method"], row["rth"]))
                pooled.setdefault((name, row["method"]), []).append(row)
        print("\nTrue r-th utility of each round (mean over the draws)\n")
        print("| truth | seed | method | " + " | ".join(f"r{t + 1}" for t in range(K)) + " |")
        print("|---|---|---|" + "---|" * K)
        for name, s, method, rth in per_round:
            print(f"| {name} | {s} | {method} | " + " | ".join(f"{v:.2f}" for v in rth) + " |")
        print("\nTarget (a), per truth over all seeds × draws: adaptive's mean true total at most 1 % below exhaustive's, "
              "the same true BJR verdict on every draw, at most 10 % of exhaustive's queries\n")
        print("| truth | seeds × draws | adaptive share of queries (max over seeds) | adaptive vs exhaustive, mean true total "
              "(per seed) | random vs exhaustive | same BJR verdict | target |")
        print("|---|---|---|---|---|---|---|")
        for name in args.truths:
            ad, ra = pooled[(name, "adaptive")], pooled[(name, "random, same budget")]
            ex = pooled[(name, "exhaustive")]
            ex_mean = np.mean([r["total"] for r in ex])
            vs = np.mean([r["total"] for r in ad]) / ex_mean - 1
            vs_random = np.mean([r["total"] for r in ra]) / ex_mean - 1
            share = max(r["share"] for r in ad)
            same = sum(r["bjr_same"] for r in ad)
            count = sum(r["draws"] for r in ad)
            met = vs >= -0.01 and share <= 0.10 and same == count
            print(f"| {name} | {len(ad)} × {args.draws} | {share:.1%} | {vs:+.2%} ("
                  + ", ".join(f"{r['vs']:+.2%}" for r in ad) + f") | {vs_random:+.2%} | {same}/{count} | "
                  f"{'met' if met else 'not met'} |")
    if "people" not in args.skip:
        variants = tuple(PlannerWaves.parse(v) for v in args.planner_variants)
        print(f"\nPeople: {PER_PARTICIPANT} judgments per participant, answered from the truth; slate = GSC on cf's completion\n")
        print("| truth | seed | chooser | judgments | true BJR | largest blocking coalition / required | true total | "
              "vs random | true r-th utility, mean (min) | seconds |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        gains: dict[tuple[str, str], list[float]] = {}
        ceiling: dict[str, list[float]] = {}
        for (name, s), truth in truths.items():
            rows = people(truth, s, variants, baselines=not args.variants_only)
            base = rows[0]["total"]
            ceiling.setdefault(name, []).append(MAX * truth.T.shape[0] / base - 1)
            for row in rows:
                gains.setdefault((name, row["method"]), []).append(row["total"] / base - 1)
                print(f"| {name} | {s} | {row['method']} | {row['judgments']:,} | {'holds' if row['bjr'] else 'violated'} | "
                      f"{row['ratio']:.2f} | {row['total']:,.1f} | {row['total'] / base - 1:+.2%} | {fmt_rth(row['rth'])} | "
                      f"{row['seconds']:.1f} |", flush=True)
        print("\nPaired over the seeds (the same truth and the same random draws for every chooser): true total vs "
              "random, mean ± sd over seeds (± standard error of the mean); the room above random: GSC on the truth and "
              "the scale's ceiling (every participant at 4)\n")
        print("| truth | seeds | chooser | vs random, mean ± sd (± se) | ahead of random | truth known (GSC on the truth) | "
              "ceiling 4·n | target (b): better than random on every seed |")
        print("|---|---|---|---|---|---|---|---|")

        def ms(x):
            sd = x.std(ddof=1) if x.size > 1 else 0.0
            return f"{x.mean():+.3%} ± {sd:.3%} (± {sd / np.sqrt(x.size):.3%})"

        for name in args.truths:
            g = {method: np.array(v) for (t, method), v in gains.items() if t == name}
            known, c = g["truth known (GSC on the truth)"], np.array(ceiling[name])
            for method, x in g.items():
                if method in ("random", "truth known (GSC on the truth)"):
                    continue
                print(f"| {name} | {x.size} | {method} | {ms(x)} | {(x > 0).sum()}/{x.size} | {ms(known)} | {ms(c)} | "
                      f"{'met' if (x > 0).all() else 'not met'} |")
    if "http" not in args.skip:
        print("\nEnd to end: `pnyx.pipeline.run(backend='llm')` against an OpenAI-compatible server on loopback answering "
              "from the noisy truth (spatial, n = 200, m = 30, k = 5)\n")
        print("| run | client calls | cache hits | server requests | cache entries | slate | true total | true BJR | "
              "largest blocking coalition / required | seconds |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for row in http(args.seeds[0]):
            print(f"| {row['method']} | {row['client calls']:,} | {row['cache hits']:,} | {row['server requests']:,} | "
                  f"{row['cache entries']:,} | {row['slate']} | {row['total']:,.1f} | {'holds' if row['bjr'] else 'violated'} | "
                  f"{row['ratio']:.2f} | {row['seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
