"""Rank pnyx's slate rules across the conversations it is measured on, by social choice (``pnyx compare``'s rules).

    .venv/bin/python benchmarks/rank_rules.py

Each (conversation, metric) is a task that votes over the rules; all are measured in this run. The
conversations: the three Polis exports under ../shared/data/polis (unknown votes filled by ``cf``; groups:
Polis group-id; k = 5) and chatbot_personalization (100 participants × 6 statements, complete ratings;
groups: EM; k = 2). Metrics of a rule's slate on the utilities it was chosen on: *utilitarian*, the mean
best-in-slate utility; *egalitarian*, the worst group's mean best-in-slate utility; *coverage*, the share
of participants who approve (utility ≥ 3) at least one slate statement; *EJR* (1 if the slate satisfies
it at threshold 3). Prints the metric table and each ranking rule's order (markdown).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RULES = ["gsc", "seq-pav", "seq-phragmen", "equal-shares", "greedy-monroe", "maxmin-groups", "fair-lottery"]


def main() -> None:
    from pnyx.axioms import check
    from pnyx.io import load
    from pnyx.methods.groups import em_groups, group_utilities, groups_from_labels
    from pnyx.methods.ranking import rank_systems
    from pnyx.queries import get_discriminative
    from pnyx.rules import compute

    datasets = []
    for path in sorted((SHARED / "polis").iterdir()):
        if path.is_dir():
            p = load(path)
            datasets.append((path.name, get_discriminative("cf").predict(p).apply(p).utilities,
                             groups_from_labels(p.groups()), 5))
    chat = load(SHARED / "chatbot_personalization")
    datasets.append(("chatbot", chat.utilities, em_groups(chat.utilities, seed=0), 2))
    tasks, columns, seconds = [], [], {r: 0.0 for r in RULES}
    for name, U, groups, k in datasets:
        vals = {m: [] for m in ("utilitarian", "egalitarian", "coverage", "EJR")}
        for rule in RULES:
            t = time.perf_counter()
            params = {"groups": groups} if rule == "maxmin-groups" else {}
            slate = compute(rule, U, k, **params).slate
            seconds[rule] += time.perf_counter() - t
            best = U[:, slate].max(axis=1)
            vals["utilitarian"].append(best.mean())
            vals["egalitarian"].append(np.nanmin(group_utilities(U, slate, groups)))
            vals["coverage"].append(((U[:, slate] >= 3).any(axis=1)).mean())
            vals["EJR"].append(float(check("ejr", U, slate).satisfied))
        for metric, v in vals.items():
            tasks.append(f"{name} {metric}")
            columns.append(v)
    S = np.array(columns).T
    print("| rule | " + " | ".join(tasks) + " | seconds (all) |")
    print("|---" * (len(tasks) + 2) + "|")
    for r, row in zip(RULES, S):
        print(f"| {r} | " + " | ".join(f"{x:.3f}" for x in row) + f" | {seconds[r]:.2f} |")
    print()
    result = rank_systems(S, RULES)
    print("| ranking rule | order (best first) |\n|---|---|")
    for rule, r in result.items():
        print(f"| {rule} | {', '.join(r.ranking)} |")


if __name__ == "__main__":
    main()
