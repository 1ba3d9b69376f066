"""The wider toolbox (pnyx.methods) on the bundled Polis conversation: seconds per method, in one run.

    .venv/bin/python benchmarks/methods.py            # prints a markdown table
    .venv/bin/python benchmarks/methods.py --repeat 5

The conversation (examples/scoop-hivemind-biodiversity, 536 participants × 154 comments, votes) is
loaded with pnyx.io.load and its unknown utilities are filled by the ``cf`` backend. The slate is
``gsc``'s for k = 5 on that matrix; groups are Polis' group-id. Every method is timed on the same
inputs, with the ``gsc`` rule (the process's own choice step) as the baseline measured in the same
run. Seconds are the median of ``--repeat`` calls (wall clock). Shapley over participants is sampled
(its call count is printed); the LLM sentence attribution and the LLM's ratings under paraphrased prompts
are not timed (they are model calls; their aggregation is, on three noisy stand-ins for the wordings).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from pnyx.assignment import balanced
    from pnyx.io import load
    from pnyx.methods.bias import bias_audit, paraphrase_bias
    from pnyx.methods.consensus import consensus_costs, mutual_consensus
    from pnyx.methods.diversity import slate_inclusion
    from pnyx.methods.fair_lottery import bw_mes
    from pnyx.methods.groups import em_groups, groups_from_labels
    from pnyx.methods.lottery import maximal_lottery
    from pnyx.methods.ranking import rank_systems
    from pnyx.methods.shapley import explain_statement
    from pnyx.queries import get_discriminative
    from pnyx.rules import compute

    profile = load(REPO / "examples" / "scoop-hivemind-biodiversity")
    U = get_discriminative("cf").predict(profile).apply(profile).utilities
    J = np.where(profile.observed, profile.utilities, np.nan)
    labels = profile.groups()
    groups = groups_from_labels(labels)
    k = 5
    slate = compute("gsc", U, k).slate
    a = balanced(U, slate).assignment
    rng = np.random.default_rng(0)
    noisy = np.clip(U + rng.normal(0, 0.5, U.shape), 0, 4)
    worded = [np.clip(noisy + rng.normal(0, 0.2, U.shape), 0, 4) for _ in range(3)]
    table = np.array([[np.nanmean(U[groups.labels == g][:, j]) for g in range(groups.count)] for j in range(40)])

    cases = [
        ("baseline: gsc rule, k = 5", lambda: compute("gsc", U, k)),
        ("maximal lottery (observed votes, 154 statements)", lambda: maximal_lottery(J)),
        ("maximal lottery (imputed utilities)", lambda: maximal_lottery(U)),
        ("EM groups (BIC over 2..6)", lambda: em_groups(U, seed=0)),
        ("maxmin-groups slate (Polis groups, auto = greedy+swap here)", lambda: compute("maxmin-groups", U, k, groups=labels)),
        ("fair-lottery: BW-MES probabilities + one draw", lambda: compute("fair-lottery", U, k, seed=0)),
        ("BW-MES probabilities (budget 10)", lambda: bw_mes(U >= 3, None, 10)),
        ("diversity & inclusion of the slate", lambda: slate_inclusion(U, slate, a, {"group": labels})),
        ("mutual consensus, 154 statements (exact, vectorised)", lambda: consensus_costs(J, 1.0)),
        ("mutual consensus LP, 5 slate statements", lambda: [mutual_consensus(J[:, j], 1.0) for j in slate]),
        ("Shapley over the 2 groups (exact)", lambda: explain_statement(U, slate[0], groups=labels)),
        ("Shapley over 536 participants (200 permutations)", lambda: explain_statement(U, slate[0], permutations=200)),
        ("predictor bias audit (500 bootstraps)", lambda: bias_audit(J, noisy, labels, slate=slate)),
        ("predictor bias under 3 wordings (aggregation only)", lambda: paraphrase_bias(J, worded, labels)),
        ("rank 40 statements over the groups (6 rules, exact Kemeny)", lambda: rank_systems(table, [str(j) for j in range(40)])),
    ]
    rows = []
    for name, fn in cases:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        note = ""
        if name.startswith("Shapley over 536"):
            note = f"{out.evaluations} coalitions"
        elif name.startswith("maxmin"):
            note = f"{out.status}; min {out.scores[0]:.4f} ≤ optimum ≤ {out.info['upper_bound']:.4f}"
        elif name.startswith("rank"):
            note = f"kemeny {out['kemeny'].info['status']}"
        rows.append((name, statistics.median(times), note))
    print(f"Measured {dt.date.today()} · {platform.machine()} · {platform.python_version()} · median of {args.repeat}\n")
    print("| method | seconds | note |\n|---|---|---|")
    for name, s, note in rows:
        print(f"| {name} | {s:.3f} | {note} |")


if __name__ == "__main__":
    main()
