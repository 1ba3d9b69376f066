"""``report.html``: one self-contained page (inline CSS, figures as ``data:`` URIs) an organiser can hand on.

One assignment throughout: :attr:`pnyx.pipeline.Run.matching` (the process's own matching, which the
guarantee is about; the balanced assignment where the process leaves people unmatched). Observed
judgments and predicted utilities are drawn differently; every number says where it comes from.
"""

from __future__ import annotations

from typing import Any

import jinja2
import numpy as np

import pnyx
from pnyx.io.writers import to_jsonable
from pnyx.report import plots
from pnyx.rules.gsc import TIEBREAK_RULES

_env = jinja2.Environment(loader=jinja2.PackageLoader("pnyx.report", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def level_counts(assigned: np.ndarray, positions: np.ndarray, k: int, scale: Any) -> np.ndarray:
    """k × levels: participants per slate position by the level of the scale nearest to their assigned utility."""
    counts = np.zeros((k, len(scale.values)), dtype=int)
    np.add.at(counts, (np.asarray(positions, dtype=int), scale.nearest_level(assigned)), 1)
    return counts


def _tie_sentence(tie: dict[str, Any], chosen: str) -> str:
    """How a tie between candidates was decided, in plain words (``tie`` as :mod:`pnyx.audit` records it)."""
    within = f" (within {tie['tolerance']:g})" if tie["tolerance"] else ""
    text = f"{len(tie['tied'])} statements reached that score{within}"
    served, distinct = tie["criteria"].get("served"), tie["criteria"].get("distinctive")
    if not distinct:
        return f"{text}; chosen by {tie['broken_by']}."
    seen = tie["criteria"].get("seen")
    if seen:  # seen-first, first round
        text += f"; it has the most observed judgments ({seen[chosen]:.0f})"
        rivals = [s for s, v in seen.items() if v == seen[chosen] and s != chosen]
    elif served and max(served.values()) > 0:  # (before the first round the slate serves nobody)
        low = min(served.values())
        text += (f"; the slate before it served its group least well (mean best utility {served[chosen]:.2f})"
                 if served[chosen] <= low + 1e-9 else f"; {tie['broken_by']}")
        rivals = [s for s, v in served.items() if abs(v - served[chosen]) <= 1e-9 and s != chosen]
    else:
        rivals = [s for s in distinct if s != chosen]
    text += f", and its distinctive support (its group's mean utility minus everyone else's) is {distinct[chosen]:.2f}"
    if rivals:
        best = max(rivals, key=lambda s: distinct[s])
        text += f", the largest among those (next: {best}, {distinct[best]:.2f})"
    return text + "."


def _why(run: Any, j: int) -> list[str]:
    """Plain sentences: in which rounds statement column ``j`` was chosen, with what score, over which ties."""
    result = run.result
    sids = result.profile.statement_ids
    out = []
    for rnd, audited in zip(result.rounds, run.audit.rounds):
        if j not in rnd.chosen or rnd.score is None:
            continue
        text = (f"Round {rnd.round}: {rnd.size_target} of the {rnd.unmatched} participants still unmatched rate it "
                f"at least {rnd.score:.2f}, the best such score among {len(rnd.pool)} statements")
        text += " (it was already on the slate: another seat)." if rnd.repeat else "."
        for tie in audited.ties:
            if tie["kind"] == "candidates":
                text += f" {_tie_sentence(tie, sids[j])}"
        if audited.near and len(audited.near) > 1 and audited.band:
            text += (f" {len(audited.near) - 1} other statements scored within the predictor's measured error "
                     f"({audited.band:.2f}) of it.")
        out.append(text)
    if not out and result.rule != "gsc":
        out.append(f"Chosen by the {result.rule} rule over the pool.")
    return out


def render_report(run: Any, *, title: str | None = None) -> str:
    """The HTML report of a :class:`pnyx.pipeline.Run`."""
    result, audit = run.result, run.audit
    profile = result.profile
    scale = profile.scale
    n = profile.n
    distinct = result.distinct
    seat_of = np.asarray(result.slate)
    number = {j: i for i, j in enumerate(distinct)}
    statement_of = np.array([number[c] for c in seat_of[run.matching]])  # distinct statement per participant
    cols = seat_of[run.matching]
    rows = np.arange(n)
    assigned = profile.utilities[rows, cols]
    observed = profile.observed[rows, cols]
    k = len(distinct)
    obs_counts = level_counts(assigned[observed], statement_of[observed], k, scale)
    pred_counts = level_counts(assigned[~observed], statement_of[~observed], k, scale)
    approve = assigned >= scale.approval

    statements = []
    for i, j in enumerate(distinct):
        st = profile.statements[j]
        members = statement_of == i
        statements.append({
            "number": i + 1, "id": st.id, "text": st.text,
            "source_text": f"from the data (id {st.id})" if st.source == "data" else f"written by {st.source} ({st.id})",
            "seats": int((seat_of == j).sum()), "speaks_for": int(members.sum()),
            "supporters": [profile.participants[p].id for p in np.flatnonzero(members)],
            "mean_utility": float(assigned[members].mean()) if members.any() else float("nan"),
            "approving_observed": int((approve & observed & members).sum()),
            "approving_predicted": int((approve & ~observed & members).sum()),
            "observed": int((observed & members).sum()),
            "why": _why(run, j),
        })

    informative = audit.utilities["informative"]
    figures = {"assigned": plots.data_uri(plots.assigned_ratings_figure(
        obs_counts, pred_counts, [f"#{s + 1}" for s in range(k)], scale.labels))}
    if informative:
        coords, centres, ratio = plots.opinion_map(profile.utilities[:, np.flatnonzero(
            ~np.isnan(profile.utilities).any(axis=0))], statement_of, k, seed=result.options.seed)
        figures["map"] = plots.data_uri(plots.opinion_map_figure(
            coords, centres, statement_of, ratio, [profile.statements[j].id for j in distinct], profile.groups()))

    groups = []
    group_of = np.array(["no group" if g is None else g for g in profile.groups()])
    for g in audit.groups:
        rows_g = group_of == g["group"]
        groups.append({"name": g["group"], "size": g["size"],
                       "counts": [int(((statement_of == i) & rows_g).sum()) for i in range(k)],
                       "rates": [g["statements"][profile.statements[j].id] for j in distinct]})

    verdicts = []
    no_judgments = not profile.observed.any()
    required = {"bjr": n / len(result.slate), "cbjr": 0.0, "ejr": 0.0}
    for key, label in (("bjr", "Balanced justified representation"), ("ejr", "Extended justified representation"),
                       ("cbjr", "Cost-balanced justified representation")):
        v = getattr(audit, key)
        if v is None:
            continue
        css = "bad" if v.meaningful and not v.satisfied else "note" if (no_judgments or not v.meaningful) else "ok"
        verdicts.append({"label": label, "css": css, "sentence": v.sentence(required[key]),
                         "assignment": v.assignment})
    if audit.bjr_balanced.satisfied != audit.bjr.satisfied:
        v = audit.bjr_balanced
        verdicts.append({"label": "BJR with the balanced assignment", "css": "bad" if not v.satisfied else "ok",
                         "sentence": v.sentence(required["bjr"]), "assignment": v.assignment})

    sids = profile.statement_ids
    rounds = []
    for rnd, audited in zip(result.rounds, audit.rounds):
        cand_ties = [t for t in audited.ties if t["kind"] == "candidates"]
        part_ties = [t for t in audited.ties if t["kind"] == "participants"]
        rounds.append({
            "round": rnd.round, "unmatched": rnd.unmatched, "size_target": rnd.size_target,
            "proposed": len(rnd.candidates), "pool": len(rnd.pool), "chosen": audited.chosen,
            "score": "—" if rnd.score is None else f"{rnd.score:.2f}", "repeat": rnd.repeat,
            "tied": len(cand_ties[0]["tied"]) if cand_ties else 1,
            "near": max(len(audited.near), 1) if audited.band else None,
            "participants_tied": f"{part_ties[0]['taken']} of {part_ties[0]['tied']}" if part_ties else "",
        })
    acc = audit.accuracy
    accuracy_line = None
    if acc.get("available"):
        metrics = ", ".join(f"{key} {val:.3f}" for key, val in acc["metrics"].items() if isinstance(val, float))
        base = "; ".join(f"{name}: " + ", ".join(f"{key} {val:.3f}" for key, val in b.items() if isinstance(val, float))
                         for name, b in (acc.get("baselines") or {}).items())
        accuracy_line = f"{acc['backend']} on held-out observed judgments ({acc['protocol']}): {metrics}. Baselines — {base}."
    excluded = {why: ids for why, ids in audit.pool["excluded"].items()}
    return _env.get_template("report.html.j2").render(
        title=title or str(profile.info.get("topic") or profile.source or "pnyx slate"),
        n=n, m=profile.m, k=len(result.slate), distinct=k, rule_name=result.rule, backend=run.backend,
        generators=run.generators, seed=result.options.seed, version=pnyx.__version__, statements=statements,
        figures=figures, level_name="rating" if scale == "rating" else "vote", level_labels=list(scale.labels),
        level_totals=(obs_counts + pred_counts).sum(axis=0).tolist(), observed_totals=obs_counts.sum(axis=0).tolist(),
        predicted_assigned=int((~observed).sum()), groups=groups,
        group_field="Polis group-id" if profile.info.get("format") == "polis" else "metadata “group”",
        caveats=audit.caveats, verdicts=verdicts, accuracy_line=accuracy_line, usage=audit.model_usage,
        utilities=audit.utilities, rounds=rounds, excluded=excluded, pool=audit.pool,
        assignment_label=audit.utilities["assignment"], slate_ids=[sids[j] for j in distinct],
        participants_excluded=run.participants_excluded, extras=to_jsonable(audit.extras),  # NaN → None
        tiebreak_rules=TIEBREAK_RULES,
    )
