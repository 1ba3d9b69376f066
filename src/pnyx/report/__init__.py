"""The four outputs of ``pnyx run``: ``slate.json``, ``assignment.csv``, ``audit.json``, ``report.html``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

OUTPUTS = ("slate.json", "assignment.csv", "audit.json", "report.html")


def slate_document(run: Any) -> dict[str, Any]:
    """``slate.json``: the statements (the data's own id when taken from the data), whom each speaks for
    (the participants matched to it), its seats, and how the slate was made."""
    result = run.result
    profile = result.profile
    ids = profile.participant_ids
    statements = []
    for j in result.distinct:
        seats = [s for s, c in enumerate(result.slate) if c == j]
        members = np.flatnonzero(np.isin(result.matching, seats))
        st = profile.statements[j]
        statements.append({"id": st.id, "text": st.text, "source": st.source, "seats": len(seats),
                           "supporters": [ids[i] for i in members]})
    return {
        "statements": statements,
        "k": len(result.slate),
        "rule": result.rule,
        "backend": run.backend,
        "generators": run.generators,
        "seed": result.seed,
        "budget": result.info.get("budget"),
    }


def assignment_rows(run: Any) -> list[dict[str, Any]]:
    """``assignment.csv``: every participant, the slate statement that speaks for them (:attr:`Run.matching`:
    the process's matching, ⌊n/k⌋ or ⌈n/k⌉ per seat), its utility (0–4) and whether that utility was
    observed or predicted."""
    profile, slate = run.result.profile, np.asarray(run.result.slate)
    cols = slate[run.matching]
    return [{"participant": p.id, "statement": profile.statements[j].id,
             "utility": round(float(profile.utilities[i, j]), 4), "observed": bool(profile.observed[i, j])}
            for i, (p, j) in enumerate(zip(profile.participants, cols))]


def write_outputs(run: Any, out: str | Path, *, title: str | None = None) -> dict[str, Path]:
    """Write the four outputs into the folder ``out`` (created if needed); returns name → path."""
    from pnyx.io import write_csv, write_json
    from pnyx.report.html import render_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in OUTPUTS}
    write_json(slate_document(run), paths["slate.json"])
    write_csv(assignment_rows(run), paths["assignment.csv"], ["participant", "statement", "utility", "observed"])
    write_json(run.audit.to_json(), paths["audit.json"])
    paths["report.html"].write_text(render_report(run, title=title), encoding="utf-8")
    return paths
