"""``report.html``: one self-contained page (inline CSS, figures as ``data:`` URIs) an organiser can hand on."""

from __future__ import annotations

import html as _html
import math
from typing import Any

import jinja2
import numpy as np

import pnyx
from pnyx.data import RATING_LABELS, VOTE_LABELS
from pnyx.report import plots

_env = jinja2.Environment(loader=jinja2.PackageLoader("pnyx.report", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def _levels(scale: str) -> tuple[list[float], list[str], str]:
    """Utility value of each level of the data's scale, its label, and what a level is called."""
    if scale == "rating":
        return [0.0, 1.0, 2.0, 3.0, 4.0], [f"{v} {RATING_LABELS[v]}" for v in range(5)], "rating"
    return [0.0, 2.0, 4.0], [VOTE_LABELS[v] for v in (-1, 0, 1)], "vote"


def level_counts(assigned: np.ndarray, positions: np.ndarray, k: int, scale: str) -> np.ndarray:
    """k × levels: participants per slate position by the level nearest to their assigned utility."""
    values, _, _ = _levels(scale)
    nearest = np.abs(np.asarray(assigned)[:, None] - np.asarray(values)[None, :]).argmin(axis=1)
    counts = np.zeros((k, len(values)), dtype=int)
    np.add.at(counts, (np.asarray(positions, dtype=int), nearest), 1)
    return counts


def _audit_lines(audit: dict[str, Any], n: int, k: int) -> list[str]:
    e = _html.escape

    def verdict(entry: dict[str, Any], name: str, holds: str) -> str:
        if entry["satisfied"]:
            return f'<span class="ok">{name} holds</span>: {e(holds)}'
        w = entry["witness"] or {}
        full = (f" That statement is on the slate but wanted by more people than its {math.ceil(n / k)} places; "
                "the process chooses each statement once, while the paper's guarantee assumes the generator can "
                "propose it (or an equivalent) again." if w.get("on_slate") else "")
        return (f'<span class="bad">{name} is violated</span>: {e(w.get("detail", ""))} '
                f'({len(w.get("coalition", []))} participants; statement {e(str(w.get("statement")))}).{e(full)}')

    lines = [
        verdict(audit["bjr"], "Balanced justified representation (BJR)",
                f"no group of at least n/k = {n / k:.1f} participants all rate one statement (on the slate or "
                f"not) higher than the statement they are matched to (on the utilities used, with "
                f"{audit['bjr']['assignment']})."),
        verdict(audit["ejr"], "Extended justified representation (EJR)",
                f"every group of ℓ·n/k participants who all rate ℓ common statements “mostly” or better "
                "has a member rating at least ℓ slate statements that highly."),
    ]
    if "bjr_balanced" in audit and audit["bjr_balanced"]["satisfied"] != audit["bjr"]["satisfied"]:
        lines.append(verdict(audit["bjr_balanced"], "BJR with the balanced assignment", "as above."))
    if "cbjr" in audit:
        c = audit["cbjr"]
        lines.append(verdict(c, "Cost-balanced justified representation (cBJR)",
                             f"no group of at least c·n/B participants all rate one statement of c words higher "
                             f"than the statement they are matched to (budget B = {c['budget']} words; the slate uses "
                             f"{c['words']}; {c['unmatched_by_process']} participants left unmatched by the process "
                             "are credited with their best slate statement)."))
    u = audit["utilities"]
    lines.append(f"Utilities used: {u['observed_entries']} observed judgments and {u['predicted_entries']} predicted "
                 f"entries; {u['assigned_observed']} of the {n} assigned utilities were observed. Mean assigned "
                 f"utility {u['mean_assigned']:.2f} of 4.")
    acc = audit.get("accuracy")
    if acc:
        metrics = ", ".join(f"{e(str(key))} {val:.3f}" if isinstance(val, float) else f"{e(str(key))} {e(str(val))}"
                            for key, val in acc["metrics"].items())
        lines.append(f"Measured accuracy of the predictions on this data's observed judgments "
                     f"({e(str(acc.get('protocol') or 'held out'))}): {metrics}.")
        for name, base in (acc.get("baselines") or {}).items():
            shown = ", ".join(f"{e(str(key))} {val:.3f}" for key, val in base.items() if isinstance(val, float))
            lines.append(f"Baseline {e(str(name))}: {shown}.")
    mu = audit.get("model_usage") or {}
    lines.append(f"Model calls: {int(mu.get('calls', 0))} ({int(mu.get('cached', 0))} answered from the cache), "
                 f"{int(mu.get('prompt_tokens', 0)) + int(mu.get('completion_tokens', 0))} tokens, "
                 f"cost ${float(mu.get('cost_usd', 0.0)):.4f}.")
    return lines


def render_report(run: Any, *, title: str | None = None) -> str:
    """The HTML report of a :class:`pnyx.process.Run`."""
    result, assignment = run.result, run.assignment
    profile = result.profile
    k, n = len(result.slate), profile.n
    positions = np.asarray(assignment.assignment, dtype=int)
    assigned = np.asarray(assignment.assigned_utilities, dtype=float)
    slate_cols = np.asarray(result.slate)
    observed = profile.observed[np.arange(n), slate_cols[positions]]
    _, level_labels, level_name = _levels(profile.scale)
    counts = level_counts(assigned, positions, k, profile.scale)

    statements = []
    for s, (st, members) in enumerate(zip(result.statements, result.supporters)):
        statements.append({
            "text": st.text,
            "source_text": f"from the data (id {st.id})" if st.source == "data" else f"written by {st.source}",
            "supporters": [profile.participants[i].id for i in members],
            "mean_utility": float(profile.utilities[members, slate_cols[s]].mean()) if members else float("nan"),
            "approving": int((profile.utilities[members, slate_cols[s]] >= 3.0).sum()),
            "observed": int(profile.observed[members, slate_cols[s]].sum()),
        })

    group_of = profile.groups()
    groups = []
    if any(g is not None for g in group_of):
        names = sorted({g for g in group_of if g is not None}, key=lambda g: (len(g), g))
        for name in names + ([None] if None in group_of else []):
            rows = np.array([g == name for g in group_of])
            groups.append({"name": "no group" if name is None else name, "size": int(rows.sum()),
                           "counts": np.bincount(positions[rows], minlength=k).tolist(),
                           "mean_utility": float(assigned[rows].mean()),
                           "approving": float((assigned[rows] >= 3.0).mean())})

    coords, centres, ratio = plots.opinion_map(profile.utilities, positions, k, seed=result.seed)
    figures = {
        "assigned": plots.data_uri(plots.assigned_ratings_figure(counts, [f"#{s + 1}" for s in range(k)], level_labels)),
        "map": plots.data_uri(plots.opinion_map_figure(coords, centres, positions, ratio)),
    }
    sizes = sorted(set(int(x) for x in assignment.sizes))
    rounds = [{"round": r.round, "unmatched": r.unmatched, "size_target": r.size_target, "proposed": len(r.candidates),
               "pool": len(r.pool), "chosen": ", ".join(profile.statements[j].id for j in r.chosen),
               "score": "—" if r.score is None else f"{r.score:.2f}"} for r in result.rounds]
    return _env.get_template("report.html.j2").render(
        title=title or str(profile.info.get("topic") or profile.source or "pnyx slate"),
        n=n, m=profile.m, k=k, rule_name=result.rule, backend=run.backend, generators=run.generators,
        seed=result.seed, version=pnyx.__version__, statements=statements, figures=figures,
        sizes=" or ".join(map(str, sizes)), level_name=level_name, level_labels=level_labels,
        level_totals=counts.sum(axis=0).tolist(), predicted_assigned=int((~observed).sum()),
        groups=groups, group_field="Polis group-id" if profile.info.get("format") == "polis" else "metadata “group”",
        audit_lines=_audit_lines(run.audit, n, k), rounds=rounds,
    )
