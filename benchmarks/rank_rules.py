"""Rank pnyx's slate rules and its discriminative backends across the datasets they are measured on, by
social choice (``pnyx compare``'s rules, :func:`pnyx.methods.ranking.rank_systems`).

    .venv/bin/python benchmarks/rank_rules.py                    # rules, then backends
    .venv/bin/python benchmarks/rank_rules.py --part backends

Each (conversation, metric) is a task that votes over the rules; all are measured in this run. The
conversations: the three Polis exports under ../shared/data/polis (unknown votes filled by ``cf``; groups:
Polis group-id; k = 5) and chatbot_personalization (100 participants × 6 statements, complete ratings;
groups: EM; k = 2). Metrics of a rule's slate on the utilities it was chosen on: *utilitarian*, the mean
best-in-slate utility; *egalitarian*, the worst group's mean best-in-slate utility; *coverage*, the share
of participants who approve (utility ≥ 3) at least one slate statement; *EJR* (1 if the slate satisfies
it at threshold 3). Prints the metric table and each ranking rule's order (markdown).

Backends: every no-network discriminative backend (cf, text, similarity, hybrid, offline; llm too when
PNYX_LLM_BASE_URL and PNYX_LLM_MODEL are set) and the participant and global baselines, measured in this
run by pnyx.evaluate.accuracy: on chatbot_personalization statement-held-out (MAE, RMSE, within 1,
Spearman; the errors enter the ranking negated, higher is better) and on each Polis export vote-held-out
(seed 0: sign accuracy and AUC on 10 % of the agree/disagree votes, at most 5,000). The baselines are the
participant mean / majority and the global mean / majority of the visible judgments.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RULES = ["gsc", "seq-pav", "seq-phragmen", "equal-shares", "greedy-monroe", "maxmin-groups", "fair-lottery"]
BACKENDS = ["cf", "text", "similarity", "hybrid", "offline"]
BASELINES = {"baseline: participant": ("participant mean", "participant majority"),
             "baseline: global": ("global mean", "global majority")}
"""System → its baseline's name in (statement-held-out, vote-held-out) reports."""
CHAT_METRICS = {"mae": -1, "rmse": -1, "within_1": 1, "spearman": 1}
VOTE_METRICS = {"accuracy": 1, "auc": 1}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("all", "rules", "backends"), default="all")
    part = ap.parse_args().part
    if part in ("all", "rules"):
        rank_rules()
    if part in ("all", "backends"):
        rank_backends()


def print_rankings(S: np.ndarray, systems: list[str]) -> None:
    from pnyx.methods.ranking import rank_systems

    result = rank_systems(S, systems)
    print("| ranking rule | winners | order (best first) |\n|---|---|---|")
    for rule, r in result.items():
        print(f"| {rule} | {', '.join(r.winners)} | {', '.join(r.ranking)} |")
    print()


def rank_backends() -> None:
    from pnyx.evaluate.accuracy import statement_held_out, vote_held_out
    from pnyx.io import load
    from pnyx.queries import get_discriminative

    backends = BACKENDS + (["llm"] if os.environ.get("PNYX_LLM_BASE_URL") and os.environ.get("PNYX_LLM_MODEL") else [])
    systems = backends + list(BASELINES)
    raw: dict[str, list[float | None]] = {}  # task → one value per system, as measured (None: not measurable)
    sign: dict[str, int] = {}
    seconds = {b: 0.0 for b in backends}
    notes = []
    datasets = [("chatbot", SHARED / "chatbot_personalization", CHAT_METRICS)]
    datasets += [(path.name, path, VOTE_METRICS) for path in sorted((SHARED / "polis").iterdir()) if path.is_dir()]
    for name, path, metrics in datasets:
        profile = load(path)
        reports = {}
        for b in backends:
            t = time.perf_counter()
            try:
                reports[b] = (statement_held_out(profile, get_discriminative(b)) if metrics is CHAT_METRICS
                              else vote_held_out(profile, get_discriminative(b), seed=0))
            except ValueError as exc:  # e.g. no prediction for some held-out entries
                reports[b] = None
                notes.append(f"{b} on {name}: not measured ({str(exc).splitlines()[0]})")
            seconds[b] += time.perf_counter() - t
        kind = 0 if metrics is CHAT_METRICS else 1
        base = next(r for r in reports.values() if r is not None).baselines
        for metric, direction in metrics.items():
            task = f"{name} {metric}"
            raw[task] = [None if reports[b] is None else reports[b].metrics[metric] for b in backends]
            raw[task] += [base[v[kind]][metric] for v in BASELINES.values()]
            sign[task] = direction
    tasks = list(raw)
    print("| backend | " + " | ".join(tasks) + " | seconds (all) |")
    print("|---" * (len(tasks) + 2) + "|")
    for a, system in enumerate(systems):
        cells = " | ".join("–" if raw[t][a] is None else f"{raw[t][a]:.3f}" for t in tasks)
        print(f"| {system} | {cells} | {seconds[system]:.1f} |" if system in seconds else f"| {system} | {cells} | |")
    print("\n" + "".join(f"- {n}\n" for n in notes))
    everywhere = [a for a in range(len(systems)) if all(raw[t][a] is not None for t in tasks)]
    print(f"All {len(tasks)} tasks, the systems measured on every one:\n")
    print_rankings(np.array([[sign[t] * raw[t][a] for t in tasks] for a in everywhere]), [systems[a] for a in everywhere])
    chat = [t for t in tasks if t.startswith("chatbot ")]
    if len(everywhere) < len(systems):
        print(f"The {len(chat)} chatbot tasks, every system:\n")
        print_rankings(np.array([[sign[t] * raw[t][a] for t in chat] for a in range(len(systems))]), systems)


def rank_rules() -> None:
    from pnyx.axioms import check
    from pnyx.io import load
    from pnyx.methods.groups import em_groups, group_utilities, groups_from_labels
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
    print_rankings(S, RULES)


if __name__ == "__main__":
    main()
