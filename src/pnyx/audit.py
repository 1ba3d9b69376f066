"""The audit of a process result: axioms with structured witnesses, where the utilities came from, ties.

:func:`audit` is pure: a :class:`pnyx.process.ProcessResult` (and optionally the backend's measured
accuracy and the model usage) in, an :class:`Audit` out. Witnesses name participants and statements by
the data's ids; sentences are made only where they are shown (:meth:`Verdict.sentence`, the report, the
terminal). ``Audit.to_json()`` is ``audit.json``.

What the verdicts are about:

* **BJR** (Fish et al., arXiv 2309.01291) on the utilities the process used, over the statements that
  could compete (the eligible pool: the data's statements less those the pool policy left out, and
  every generated candidate), with the process's own matching when it covers everyone (that is what
  the paper's guarantee is about), and with the utility-maximising balanced assignment. With a
  near-tie tolerance ε the process guarantees ε-BJR and the verdict is checked with slack ε.
* **EJR** at the scale's approval threshold, **cBJR** for the budgeted process.
* A verdict on utilities that carry no information (all equal) is marked not meaningful; a verdict on
  utilities none of which was observed (similarity scores, predictions) says so in ``caveats``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from pnyx.axioms import check
from pnyx.process import ProcessResult

NO_JUDGMENTS = ("No judgment was observed in this data, so the utilities are {what}, not ratings, and their accuracy "
                "cannot be measured. For real utilities, rate the candidates: set PNYX_LLM_BASE_URL and "
                "PNYX_LLM_MODEL to an OpenAI-compatible endpoint (--backend llm), or collect ratings from the "
                "participants (pnyx plan / pnyx serve) and run again on them.")


@dataclass
class WitnessIds:
    """A violation's certificate in the data's ids."""

    coalition: list[str]
    """Participant ids."""
    statement: str | None
    """The statement the coalition would rather have (BJR, cBJR), if one."""
    statements: list[str]
    """EJR/PJR: the ℓ statements the coalition approves in common; the core: the objection."""
    threshold: float
    """θ (BJR, cBJR) or ℓ (EJR)."""
    on_slate: bool = False
    """BJR: the statement is on the slate but wanted by more people than its seats hold."""
    utility_gap: float | None = None


@dataclass
class Verdict:
    """One axiom's verdict on the slate."""

    axiom: str
    satisfied: bool
    witness: WitnessIds | None = None
    meaningful: bool = True
    """False when the utilities carry no information (e.g. all equal): the verdict then says nothing."""
    assignment: str | None = None
    """BJR/cBJR: which matching was checked."""
    epsilon: float = 0.0
    """BJR: slack d = ε the process guarantees with a near-tie tolerance ε."""
    params: dict[str, Any] = field(default_factory=dict)

    def sentence(self, required: float) -> str:
        """The verdict in plain words (``required``: the coalition size that counts, e.g. n/k)."""
        name = {"bjr": "BJR", "ejr": "EJR", "cbjr": "cBJR"}.get(self.axiom, self.axiom)
        if not self.meaningful:
            return f"{name} not assessed: every utility used is the same, so no slate can do better or worse."
        eps = f" up to ε = {self.epsilon:g}" if self.epsilon else ""
        if self.satisfied:
            return f"{name} holds{eps}."
        w = self.witness
        if w is None:  # pragma: no cover - a violated check always has a witness
            return f"{name} is violated."
        if self.axiom == "ejr":
            return (f"EJR is violated: {len(w.coalition)} participants (≥ {w.threshold:g}·n/k) all approve the "
                    f"{len(w.statements)} statements {', '.join(w.statements)}, and none of them approves "
                    f"{int(w.threshold)} slate statements.")
        seats = (" That statement is on the slate but wanted by more people than its seats hold."
                 if w.on_slate else "")
        return (f"{name} is violated{eps}: {len(w.coalition)} participants (≥ {required:g} required) all rate "
                f"statement {w.statement} at least {w.threshold:g}, but each gets less from the statement matched "
                f"to them.{seats}")


@dataclass
class RoundAudit:
    """One round of the GSC process as the audit sees it."""

    round: int
    chosen: str
    score: float | None
    repeat: bool
    ties: list[dict[str, Any]]
    """Exact (or within the tolerance) ties, in ids, with the criterion values that decided them."""
    near: list[dict[str, Any]]
    """Candidates whose score is within the backend's measured error of the best: id, score, distinctive
    support — how settled the round's choice is."""
    band: float | None


@dataclass
class Audit:
    """Everything ``audit.json`` holds (``to_json``)."""

    rule: str
    n: int
    k: int
    seats: dict[str, int]
    """Statement id → seats it holds."""
    bjr: Verdict
    bjr_balanced: Verdict
    ejr: Verdict
    cbjr: Verdict | None
    pool: dict[str, Any]
    utilities: dict[str, Any]
    accuracy: dict[str, Any]
    rounds: list[RoundAudit]
    groups: list[dict[str, Any]]
    """Per group (participants' ``group``): size, and for each slate statement the observed approval
    rate among the members who judged it."""
    caveats: list[str]
    model_usage: dict[str, float]
    extras: dict[str, Any] = field(default_factory=dict)
    queries: dict[str, Any] | None = None
    """Adaptive queries: calls made, the calls an exhaustive run makes, each round's settled state."""

    def to_json(self) -> dict[str, Any]:
        from pnyx.io.writers import to_jsonable

        out = to_jsonable(self)
        if self.cbjr is None:
            del out["cbjr"]
        for key in ("bjr", "bjr_balanced", "ejr", "cbjr"):
            if key in out:
                out[key].update(out[key].pop("params"))  # e.g. cbjr's budget and words beside its verdict
        return out


def _ids(values: Sequence[int], ids: Sequence[str]) -> list[str]:
    return [ids[int(v)] for v in values]


def _verdict(axiom: str, result: Any, pids: list[str], sids: list[str], cols: Sequence[int], slate: set[int], *,
             meaningful: bool, assignment: str | None = None, epsilon: float = 0.0,
             params: dict[str, Any] | None = None) -> Verdict:
    """A check's result over ``U[:, cols]`` as a :class:`Verdict` in ids."""
    w = result.witness
    witness = None
    if w is not None:
        col = None if w.statement is None else cols[w.statement]
        witness = WitnessIds(_ids(w.coalition, pids), None if col is None else sids[col],
                             [sids[cols[j]] for j in (w.statements or [])], float(w.threshold),
                             on_slate=col is not None and col in slate,
                             utility_gap=result.info.get("utility_gap"))
    return Verdict(axiom, bool(result.satisfied), witness, meaningful, assignment, epsilon, params or {})


def _informative(V: np.ndarray) -> bool:
    """Whether the known utilities of V are not all one number (NaN skipped, by reductions: no copy of V)."""
    with np.errstate(invalid="ignore"):
        low, high = np.fmin.reduce(V, axis=None, initial=np.inf), np.fmax.reduce(V, axis=None, initial=-np.inf)
    if np.isfinite(low) and np.isfinite(high) or not V.size:
        return bool(high > low)
    finite = V[np.isfinite(V)]  # an infinite entry: only the finite ones count
    return bool(finite.size and np.ptp(finite) > 0)


def _predicted(profile) -> int:
    """Entries known but not observed."""
    unknown = np.isnan(profile.utilities)
    return int(unknown.size - np.count_nonzero(unknown) - np.count_nonzero(profile.observed & ~unknown))


def _sources(profile, cols: list[int]) -> list[str]:
    """The provenance labels of the entries of ``cols``, sorted (one comparison per label: no sort of n × m codes)."""
    codes = profile.provenance if len(cols) == profile.m else profile.provenance[:, cols]
    return sorted({label for c, label in enumerate(profile.provenance_labels) if (codes == c).any()})


def _round_audits(result: ProcessResult, band: float | None) -> list[RoundAudit]:
    from pnyx.rules.gsc import near_ties, transposed

    sids = result.profile.statement_ids
    pids = result.profile.participant_ids
    U = result.profile.utilities
    columns, totals = None, {}  # U.T and its column sums, made once for every round's near-ties
    out = []
    for rnd in result.rounds:
        ties = []
        for tie in rnd.ties:
            if tie.kind == "candidates":
                ties.append({"kind": "candidates", "tied": _ids(tie.tied, sids), "chosen": sids[int(tie.chosen)],
                             "score": tie.value, "broken_by": tie.broken_by, "tolerance": tie.tolerance,
                             "criteria": {name: {sids[j]: v for j, v in values.items()}
                                          for name, values in tie.criteria.items()}})
            else:
                ties.append({"kind": "participants", "tied": len(tie.tied), "taken": len(tie.chosen),
                             "utility": tie.value, "broken_by": tie.broken_by,
                             "taken_ids": _ids(tie.chosen, pids)})
        near: list[dict[str, Any]] = []
        if band is not None and rnd.score is not None and rnd.unmatched_mask is not None:
            scores = np.full(U.shape[1], -np.inf)
            scores[list(rnd.scores)] = list(rnd.scores.values())
            columns = transposed(U) if columns is None else columns
            found = near_ties(U, rnd.unmatched_mask, rnd.size_target, scores, band, np.asarray(rnd.pool), columns,
                              totals)
            near = sorted(({"id": sids[j], "score": rnd.scores[j], "distinctive": v} for j, v in found.items()),
                          key=lambda d: (-d["score"], -d["distinctive"]))
        out.append(RoundAudit(rnd.round, ", ".join(sids[j] for j in rnd.chosen), rnd.score, rnd.repeat, ties,
                              near, band))
    return out


def group_support(profile, slate: Sequence[int]) -> list[dict[str, Any]]:
    """Per group of ``profile.groups()``: size, and per distinct slate statement the observed approval
    rate among members who judged it (None where none did)."""
    groups = profile.groups()
    if all(g is None for g in groups):
        return []
    names = sorted({g for g in groups if g is not None}, key=lambda g: (len(g), g))
    labels = np.array(["" if g is None else g for g in groups])
    cols = list(dict.fromkeys(slate))
    with np.errstate(invalid="ignore"):
        approve = profile.observed[:, cols] & (profile.utilities[:, cols] >= profile.scale.approval)
    out = []
    for name in names + ([None] if None in groups else []):
        rows = labels == ("" if name is None else name)
        judged = profile.observed[rows][:, cols].sum(axis=0)
        agreed = approve[rows].sum(axis=0)
        out.append({"group": "no group" if name is None else name, "size": int(rows.sum()),
                    "statements": {profile.statements[j].id: {"judged": int(d), "approve_rate":
                                                              None if d == 0 else float(a / d)}
                                   for j, d, a in zip(cols, judged, agreed)}})
    return out


def audit(result: ProcessResult, assignment: Any, *, accuracy: Any = None, usage: dict | None = None,
          backend: str | None = None) -> Audit:
    """Audit ``result``.

    Parameters
    ----------
    result
        The process result (its profile holds the utilities used).
    assignment
        :class:`pnyx.assignment.BalancedAssignment` of everyone to the slate's seats.
    accuracy
        :class:`pnyx.evaluate.accuracy.AccuracyReport` of the backend on this data, if measured.
    usage
        Model calls, tokens and cost.
    backend
        Provenance label of the predictions (for the caveats).

    Returns
    -------
    Audit
    """
    profile, slate = result.profile, list(result.slate)
    U = profile.utilities
    pids, sids = profile.participant_ids, profile.statement_ids
    eligible = np.ones(profile.m, bool) if result.eligible is None else result.eligible
    cols = np.flatnonzero(eligible | np.isin(np.arange(profile.m), slate)).tolist()
    V = U if len(cols) == profile.m else U[:, cols]  # no n × m copy when every column counts
    pos = {c: i for i, c in enumerate(cols)}
    W = [pos[j] for j in slate]
    on_slate = set(slate)
    meaningful = _informative(V)
    balanced_a = np.asarray(assignment.assignment, dtype=int)
    process_a = result.matching if result.complete else balanced_a
    eps = float(result.options.tolerance)
    bjr = _verdict("bjr", check("bjr", V, W, assignment=process_a, d=eps), pids, sids, cols, on_slate,
                   meaningful=meaningful, epsilon=eps,
                   assignment="the process's matching" if result.complete else "the balanced assignment")
    bjr_bal = _verdict("bjr", check("bjr", V, W, assignment=balanced_a, d=eps), pids, sids, cols, on_slate,
                       meaningful=meaningful, epsilon=eps, assignment="the balanced assignment")
    distinct = list(dict.fromkeys(W))
    threshold = profile.scale.approval
    ejr = _verdict("ejr", check("ejr", V, distinct, threshold=threshold), pids, sids, cols, on_slate,
                   meaningful=meaningful, params={"threshold": threshold})
    cbjr = None
    if result.rule == "gsc-budgeted":
        # participants the budgeted process left unmatched are credited with their best slate statement
        best = np.argmax(V[:, W], axis=1)
        matching = np.where(result.matching >= 0, result.matching, best)
        costs = [profile.statements[j].cost for j in cols]
        cbjr = _verdict("cbjr", check("cbjr", V, W, costs=costs, budget=result.info["budget"], assignment=matching),
                        pids, sids, cols, on_slate, meaningful=meaningful, assignment="the process's matching",
                        params={"budget": result.info["budget"], "words": result.info["words"],
                                "unmatched_by_process": int((result.matching < 0).sum())})
    rows = np.arange(profile.n)
    assigned_cols = np.asarray(slate)[process_a]
    observed_assigned = profile.observed[rows, assigned_cols]
    used = profile.utilities[rows, assigned_cols]
    utilities = {
        "assignment": bjr.assignment,
        "total_assigned": float(used.sum()),
        "mean_assigned": float(used.mean()),
        "total_balanced": float(assignment.total),
        "assigned_observed": int(observed_assigned.sum()),
        "assigned_predicted": int((~observed_assigned).sum()),
        "observed_entries": int(np.count_nonzero(profile.observed)),
        "predicted_entries": _predicted(profile),
        "informative": meaningful,
        "sources": _sources(profile, cols),
    }
    caveats = []
    if not profile.observed.any():
        what = "similarity scores between each participant's words and each statement" if backend and \
            backend.startswith("similarity") else "predictions"
        caveats.append(NO_JUDGMENTS.format(what=what))
    if not meaningful:
        caveats.append("Every utility used is the same number: the slate is arbitrary and the axiom verdicts "
                       "say nothing about it.")
    if accuracy is None:
        acc: dict[str, Any] = {"available": False,
                               "reason": "no observed judgments" if not profile.observed.any() else "not measured"}
    else:
        acc = {"available": True, "protocol": accuracy.protocol, "backend": accuracy.backend,
               "metrics": accuracy.metrics, "baselines": accuracy.baselines, "info": accuracy.info}
    band = None if accuracy is None else accuracy.metrics.get("mae")
    seats: dict[str, int] = {}
    for j in slate:
        seats[sids[j]] = seats.get(sids[j], 0) + 1
    return Audit(
        rule=result.rule, n=profile.n, k=len(slate), seats=seats, bjr=bjr, bjr_balanced=bjr_bal, ejr=ejr,
        cbjr=cbjr,
        pool={"eligible": int(eligible.sum()), "excluded": result.pool_report.excluded,
              "min_support": result.pool_report.min_support, "tolerance": eps, "tiebreak": result.options.tiebreak,
              "seats_allowed": result.rule == "gsc" and result.options.seats},
        utilities=utilities, accuracy=acc, rounds=_round_audits(result, band), groups=group_support(profile, slate),
        queries=result.info.get("queries"), caveats=caveats, model_usage=usage or {"calls": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                               "cost_usd": 0.0})
