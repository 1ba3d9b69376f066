"""The ``text`` backend on chatbot_personalization, statement-held-out: feature ablation against the baselines.

    .venv/bin/python benchmarks/text_predictor.py      # prints a markdown table (a few minutes: embeds ~700 texts)

Each row is one configuration of :class:`pnyx.queries.text.TextBackend`, scored by
:func:`pnyx.evaluate.accuracy.statement_held_out` (600 ratings, each statement hidden from everyone in
turn); the two baselines come from the same run. The L1 penalty is chosen inside the backend by folds
of whole statements among the five visible ones (nested: the held-out statement is never seen).
"""

from __future__ import annotations

import time
from pathlib import Path

from pnyx.evaluate.accuracy import statement_held_out
from pnyx.io import load
from pnyx.queries.embed import embed
from pnyx.queries.text import FEATURES, TextBackend

CHATBOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chatbot_personalization" / "participants.jsonl"
CONFIGS = [("offset",), ("offset", "neighbours"), ("offset", "answers"), ("offset", "explanations"), FEATURES]


def row(name: str, m: dict, seconds: str = "") -> str:
    return (f"| {name} | {m['mae']:.3f} | {m['rmse']:.3f} | {m['exact']:.1%} | {m['within_1']:.1%} "
            f"| {m['spearman']:.2f} | {seconds} |")


def main() -> None:
    profile = load(CHATBOT)
    t = time.perf_counter()
    embed([s.text for s in profile.statements] + [p.text() for p in profile.participants] + list(profile.explanations.values()))
    print(f"embedding {profile.m + profile.n + len(profile.explanations)} texts: {time.perf_counter() - t:.1f} s\n")
    print("| predictor | MAE | RMSE | exact | within 1 | Spearman | seconds |\n|---|---|---|---|---|---|---|")
    for features in CONFIGS:
        t = time.perf_counter()
        report = statement_held_out(profile, TextBackend(features=features))
        print(row(f"text: {' + '.join(features)}", report.metrics, f"{time.perf_counter() - t:.1f}"), flush=True)
    for name, m in report.baselines.items():
        print(row(f"baseline: {name}", m))


if __name__ == "__main__":
    main()
