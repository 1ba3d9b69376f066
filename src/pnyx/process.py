"""The generative social choice process (Fish et al., arXiv 2309.01291, §4; budgeted: arXiv 2505.22939).

For k rounds: ask the generative backends (an ensemble) for candidate statements for the participants
still unmatched; predict every participant's utility for the new candidates with the discriminative
backend; among the candidate pool choose, by the GSC rule (:func:`pnyx.rules.gsc.gsc_round`), the
statement whose r-th highest utility among the unmatched is largest; match those r participants to
it. With n = qk + p the first p rounds match ⌈n/k⌉ participants and the others ⌊n/k⌋, so the matching
is balanced and covers everyone.

Budgeted (a word budget B; statement cost = words): each round generates for the participants the
budgeted GSC rule (``gsc-budgeted`` of :mod:`pnyx.rules`) leaves unmatched on the pool so far, asking
for statements of at most ``min(u, ⌈n/k⌉)·B/n`` words (u unmatched) — the length that many
supporters pay for — and the rule is rerun on the grown pool; the last run's slate is the result.

The data's own statements are always in the pool (their unknown utilities predicted once, up front):
on vote data they are the participants' own statements, so the offline default runs a complete
process on the imputed matrix. Observed judgments always win over predictions (:meth:`pnyx.queries.base.Prediction.apply` keeps
them). Utilities still unknown after prediction are an error, never silently 0.

:func:`generative_social_choice` is the pure core (a profile and backends in, a
:class:`ProcessResult` out); :func:`run` builds the backends by name, runs the core and computes the
audit; :mod:`pnyx.report` writes the outputs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from pnyx.data import DEFAULT_APPROVAL_THRESHOLD, Profile, Statement
from pnyx.queries.base import Candidate, DiscriminativeBackend, GenerativeBackend
from pnyx.rules.gsc import round_sizes

Progress = Callable[[str, int, int], None]
"""``progress(phase, completed, total)``, called as each phase advances."""


class ProcessError(RuntimeError):
    """The process cannot go on (e.g. utilities a backend could not predict, no candidates)."""


@dataclass
class RoundLog:
    """What one generation round saw and did."""

    round: int
    size_target: int
    word_budget: int | None
    unmatched: int
    """Participants unmatched at the start of the round (those the generators wrote for)."""
    candidates: list[int]
    """Columns proposed in this round (data statements or generated ones)."""
    pool: list[int]
    """Columns the rule chose from."""
    chosen: list[int]
    """Columns chosen: this round's statement (``gsc``), the slate so far (``gsc-budgeted``)."""
    score: float | None = None
    """``gsc``: the chosen statement's r-th highest utility among the unmatched."""
    scores: dict[int, float] = field(default_factory=dict)
    """``gsc``: column → its score this round."""
    matched: list[int] = field(default_factory=list)
    ties: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ProcessResult:
    """The slate, who each statement speaks for, and how the process got there."""

    profile: Profile
    """Data statements plus every candidate proposed, with the utilities used (observed or predicted)."""
    slate: list[int]
    """Column indices of ``profile`` in selection order."""
    matching: np.ndarray
    """Slate position each participant was matched to by the process (−1: unmatched, budgeted only)."""
    rule: str
    seed: int
    rounds: list[RoundLog] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def statements(self) -> list[Statement]:
        return [self.profile.statements[j] for j in self.slate]

    @property
    def supporters(self) -> list[list[int]]:
        """Participant indices matched to each slate position."""
        return [np.flatnonzero(self.matching == s).tolist() for s in range(len(self.slate))]

    @property
    def utilities(self) -> np.ndarray:
        return self.profile.utilities


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


class _Pool:
    """The profile grown by candidates, de-duplicated by text, with every pooled column predicted."""

    def __init__(self, profile: Profile, discriminative: DiscriminativeBackend):
        self.profile = profile
        self.discriminative = discriminative
        self.by_text = {_normalise(s.text): j for j, s in enumerate(profile.statements)}
        self.by_id = {s.id: j for j, s in enumerate(profile.statements)}
        self.filled: set[int] = set()

    def add(self, candidates: Sequence[Candidate], round_no: int) -> list[int]:
        """Columns for ``candidates`` (existing ones reused), predicted for everyone; returns them in order."""
        cols: list[int] = []
        new: list[Statement] = []
        for c in candidates:
            j = self.by_id.get(c.statement_id) if c.statement_id is not None else None
            if j is None:
                j = self.by_text.get(_normalise(c.text))
            if j is None:
                j = self.profile.m + len(new)
                sid = f"{c.generator}-r{round_no}-{len(new) + 1}"
                while sid in self.by_id:
                    sid += "'"
                new.append(Statement(id=sid, text=c.text.strip(), source=c.generator))
                self.by_text[_normalise(c.text)] = self.by_id[sid] = j
            if j not in cols:
                cols.append(j)
        if new:
            self.profile = self.profile.add_statements(new)
        self.fill(cols)
        return cols

    def fill(self, cols: list[int]) -> None:
        """Predict the unknown utilities of ``cols`` for everyone (once per column)."""
        pending = [j for j in cols if j not in self.filled and np.isnan(self.profile.utilities[:, j]).any()]
        if pending:
            self.profile = self.discriminative.predict(self.profile, statements=pending).apply(self.profile)
            missing = np.isnan(self.profile.utilities[:, pending])
            if missing.any():
                j = pending[int(np.flatnonzero(missing.any(axis=0))[0])]
                raise ProcessError(
                    f"the {self.discriminative.name or type(self.discriminative).__name__} backend left "
                    f"{int(missing.sum())} utilities unknown (e.g. statement {self.profile.statements[j].id!r}); "
                    "choose a backend that predicts every participant")
        self.filled.update(cols)


def _generate(generators: Sequence[GenerativeBackend], profile: Profile, participants: np.ndarray, *,
              size_target: int, word_budget: int | None, seed: int) -> list[Candidate]:
    out: list[Candidate] = []
    for g in generators:
        out.extend(g.generate(profile, participants.tolist(), size_target=size_target, word_budget=word_budget,
                              seed=seed))
    return out


def generative_social_choice(
    profile: Profile,
    k: int,
    *,
    discriminative: DiscriminativeBackend,
    generators: Sequence[GenerativeBackend],
    rule: str = "gsc",
    budget: int | None = None,
    keep_candidates: bool = True,
    seed: int = 0,
    progress: Progress | None = None,
) -> ProcessResult:
    """Run the process on ``profile`` for a slate of ``k`` statements.

    ``rule`` ``gsc`` runs the generative process round by round; ``gsc-budgeted`` (or any ``budget``)
    the budgeted one, with at most k statements of at most ``budget`` words in all; any other rule id
    of :mod:`pnyx.rules` is run once over a fixed pool (the data's statements and one generation round
    for everyone), for comparison. ``keep_candidates`` keeps earlier rounds' candidates in the pool.
    """
    if not 1 <= k <= profile.n:
        raise ValueError(f"k must be between 1 and the number of participants ({profile.n}), got {k}")
    if not generators:
        raise ValueError("at least one generative backend is needed")
    if budget is not None and rule == "gsc":
        rule = "gsc-budgeted"
    if rule == "gsc-budgeted" and (budget is None or budget < 1):
        raise ValueError("rule 'gsc-budgeted' needs a positive word budget")
    progress = progress or (lambda phase, done, total: None)
    pool = _Pool(profile, discriminative)
    progress("impute", 0, 1)
    pool.fill(list(range(profile.m)))
    progress("impute", 1, 1)
    if rule == "gsc":
        return _rounds(pool, k, generators, keep_candidates, seed, progress)
    if rule == "gsc-budgeted":
        return _budgeted(pool, k, budget, generators, seed, progress)
    return _fixed_pool(pool, k, rule, generators, seed, progress)


def _propose(pool: _Pool, generators, unmatched: np.ndarray, t: int, k: int, *, size_target: int,
             word_budget: int | None, seed: int, progress: Progress) -> list[int]:
    """One generation round for the unmatched participants; the columns proposed, predicted."""
    progress("generate", t, k)
    candidates = _generate(generators, pool.profile, np.flatnonzero(unmatched), size_target=size_target,
                           word_budget=word_budget, seed=seed + t)
    progress("generate", t + 1, k)
    progress("predict", t, k)
    cols = pool.add(candidates, t + 1)
    progress("predict", t + 1, k)
    return cols


def _rounds(pool: _Pool, k: int, generators, keep_candidates: bool, seed: int, progress: Progress) -> ProcessResult:
    from pnyx.rules.gsc import gsc_round

    n = pool.profile.n
    unmatched = np.ones(n, dtype=bool)
    matching = np.full(n, -1, dtype=int)
    slate: list[int] = []
    data = list(range(pool.profile.m))
    kept: list[int] = data
    log: list[RoundLog] = []
    for t, r in enumerate(round_sizes(n, k)):
        before = int(unmatched.sum())
        new = _propose(pool, generators, unmatched, t, k, size_target=r, word_budget=None, seed=seed,
                       progress=progress)
        kept = [j for j in dict.fromkeys((kept if keep_candidates else data) + new) if j not in slate]
        if not kept:
            raise ProcessError(f"round {t + 1}: the generators proposed no statement outside the slate")
        step = gsc_round(pool.profile.utilities[:, kept], unmatched, r)
        j = kept[step.candidate]
        matching[step.matched] = t
        unmatched[step.matched] = False
        slate.append(j)
        log.append(RoundLog(round=t + 1, size_target=r, word_budget=None, unmatched=before, candidates=new,
                            pool=kept, chosen=[j], score=step.score,
                            scores={c: float(s) for c, s in zip(kept, step.scores)},
                            matched=np.asarray(step.matched).tolist(), ties=step.ties))
        progress("choose", t + 1, k)
    return ProcessResult(profile=pool.profile, slate=slate, matching=matching, rule="gsc", seed=seed, rounds=log,
                         info={"keep_candidates": keep_candidates})


def _budgeted(pool: _Pool, k: int, budget: int, generators, seed: int, progress: Progress) -> ProcessResult:
    from pnyx.rules import compute

    n = pool.profile.n
    unmatched = np.ones(n, dtype=bool)
    cols = list(range(pool.profile.m))
    log: list[RoundLog] = []
    result = None
    for t in range(k):
        if not unmatched.any():
            break
        before = int(unmatched.sum())
        words = max(1, int(min(before, math.ceil(n / k)) * budget / n))
        new = _propose(pool, generators, unmatched, t, k, size_target=math.ceil(words * n / budget),
                       word_budget=words, seed=seed, progress=progress)
        if result is not None and set(new) <= set(cols):
            break  # nothing new to choose from: another round would change nothing
        cols = list(dict.fromkeys(cols + new))
        costs = [pool.profile.statements[j].cost for j in cols]
        result = compute("gsc-budgeted", pool.profile.utilities[:, cols], k, budget=budget, costs=costs)
        unmatched = np.asarray(result.info["assignment"]) < 0
        log.append(RoundLog(round=t + 1, size_target=math.ceil(words * n / budget), word_budget=words,
                            unmatched=before, candidates=new, pool=list(cols), chosen=[cols[c] for c in result.slate],
                            ties=result.ties))
        progress("choose", t + 1, k)
    if result is None or not result.slate:
        raise ProcessError(f"no candidate statement fits the budget of {budget} words with enough supporters")
    slate = [cols[c] for c in result.slate]
    return ProcessResult(profile=pool.profile, slate=slate, matching=np.asarray(result.info["assignment"], dtype=int),
                         rule="gsc-budgeted", seed=seed, rounds=log,
                         info={"budget": budget, "words": int(result.info["spent"]), "unmatched": int(unmatched.sum()),
                               "rule_rounds": result.info["rounds"]})


def _fixed_pool(pool: _Pool, k: int, rule: str, generators, seed: int, progress: Progress) -> ProcessResult:
    from pnyx.assignment import balanced
    from pnyx.rules import compute

    n = pool.profile.n
    data_cols = list(range(pool.profile.m))
    new = _propose(pool, generators, np.ones(n, dtype=bool), 0, 1, size_target=math.ceil(n / k), word_budget=None,
                   seed=seed, progress=progress)
    cols = list(dict.fromkeys(data_cols + new))
    result = compute(rule, pool.profile.utilities[:, cols], k)
    slate = [cols[c] for c in result.slate]
    matching = np.asarray(balanced(pool.profile.utilities, slate).assignment, dtype=int)
    progress("choose", 1, 1)
    return ProcessResult(profile=pool.profile, slate=slate, matching=matching, rule=rule, seed=seed,
                         info={"pool": cols, "rule_status": result.status, "rule_scores": list(result.scores),
                               "ties": result.ties})


@dataclass
class Run:
    """Everything ``pnyx run`` writes: the process result, the balanced assignment and the audit."""

    result: ProcessResult
    assignment: Any
    """:class:`pnyx.assignment.BalancedAssignment` of every participant to the slate (utilities used)."""
    audit: dict[str, Any]
    backend: str
    generators: list[str]


def default_generators(profile: Profile, llm: bool) -> list[str]:
    """LLM writing when an endpoint is configured; the data's own statements when it has some; cluster
    representatives of the participants' free text only when there is nothing else to choose from.

    Offline, new text cannot be scored: the offline predictors put an unrated sentence near the
    participant's mean rating (benchmarks/README.md, "Text predictor"), so sentences taken from the answers
    would compete with the data's statements on guesses. Name ``cluster`` (or ``extractive``, which then
    also proposes answer sentences) explicitly to include them anyway.
    """
    names = ["llm"] if llm else []
    if profile.m:
        names.append("extractive")
    elif not llm:
        names.append("cluster")
    return names


def usage_of(backends: Sequence[Any]) -> dict[str, float]:
    """Model calls, cache hits, tokens and cost summed over the backends' clients (zeros offline)."""
    total = {"calls": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    seen: set[int] = set()
    for b in backends:
        client = getattr(b, "client", None)
        if client is None or id(client) in seen:
            continue
        seen.add(id(client))
        for key, value in (getattr(client, "usage", None) or {}).items():
            if key in total:
                total[key] += value
    return total


def _verdict(result: Any, profile: Profile, slate: Sequence[int] = ()) -> dict[str, Any]:
    w = result.witness
    return {
        "satisfied": bool(result.satisfied),
        "witness": None if w is None else {
            "coalition": [profile.participants[i].id for i in w.coalition],
            "statement": None if w.statement is None else profile.statements[w.statement].id,
            # a slate statement wanted by more people than its ⌈n/k⌉ places: with statements chosen once,
            # the paper's guarantee (which may pick a statement again) does not cover this case
            "on_slate": w.statement is not None and w.statement in slate,
            "statements": [profile.statements[j].id for j in getattr(w, "statements", []) or []],
            "threshold": float(w.threshold),
            # the core names columns by index; the audit speaks the data's ids
            "detail": re.sub(r"\bstatement (\d+)\b", lambda m: f"statement {profile.statements[int(m[1])].id}",
                             w.detail),
        },
    }


def audit(result: ProcessResult, assignment: Any, *, accuracy: Any = None, usage: dict | None = None,
          threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> dict[str, Any]:
    """The audit of a slate on the utilities used: BJR (with the process's matching when it covers
    everyone, and with the balanced assignment), EJR at the approval threshold, cBJR for the budgeted
    process, where the utilities came from, the backend's measured accuracy on this data (an
    :class:`pnyx.evaluate.accuracy.AccuracyReport`), and the model usage."""
    from pnyx.axioms import check

    profile, slate = result.profile, result.slate
    U = profile.utilities
    rows = np.arange(profile.n)
    assigned_cols = np.asarray(slate)[np.asarray(assignment.assignment, dtype=int)]
    observed_assigned = profile.observed[rows, assigned_cols]
    complete = bool((result.matching >= 0).all())
    out: dict[str, Any] = {
        "rule": result.rule,
        "n": profile.n,
        "k": len(slate),
        "bjr": {**_verdict(check("bjr", U, slate, assignment=result.matching if complete else assignment.assignment),
                           profile, slate),
                "assignment": "the process's matching" if complete else "the balanced assignment"},
        "bjr_balanced": {**_verdict(check("bjr", U, slate, assignment=assignment.assignment), profile, slate),
                         "assignment": "the balanced assignment"},
        "ejr": {**_verdict(check("ejr", U, slate, threshold=threshold), profile), "threshold": threshold},
        "utilities": {
            "total_assigned": float(assignment.total),
            "mean_assigned": float(assignment.total) / profile.n,
            "assigned_observed": int(observed_assigned.sum()),
            "assigned_predicted": int((~observed_assigned).sum()),
            "observed_entries": int(profile.observed.sum()),
            "predicted_entries": int((~profile.observed & ~np.isnan(U)).sum()),
        },
        "model_usage": usage or usage_of([]),
    }
    if result.rule == "gsc-budgeted":
        # participants the budgeted process left unmatched are credited with their best slate statement
        best = np.argmax(U[:, slate], axis=1)
        matching = np.where(result.matching >= 0, result.matching, best)
        costs = [s.cost for s in profile.statements]
        out["cbjr"] = {**_verdict(check("cbjr", U, slate, costs=costs, budget=result.info["budget"],
                                        assignment=matching), profile),
                       "budget": result.info["budget"], "words": result.info["words"],
                       "unmatched_by_process": int((result.matching < 0).sum())}
    if accuracy is not None:
        out["accuracy"] = {"protocol": accuracy.protocol, "backend": accuracy.backend, "metrics": accuracy.metrics,
                           "baselines": accuracy.baselines, "info": accuracy.info}
    return out


def run(
    profile: Profile,
    k: int,
    *,
    backend: str = "offline",
    generators: Sequence[str] | None = None,
    rule: str = "gsc",
    budget: int | None = None,
    keep_candidates: bool = True,
    seed: int = 0,
    cache: Any = None,
    executor: Any = None,
    measure_accuracy: bool = True,
    progress: Progress | None = None,
) -> Run:
    """Build the named backends (sharing ``cache``, a :class:`pnyx.queries.cache.Cache`, and ``executor``,
    where model calls run: :func:`pnyx.queries.executor.get_executor`), run
    :func:`generative_social_choice`, the balanced assignment and the :func:`audit`."""
    from pnyx.assignment import balanced
    from pnyx.queries import get_discriminative, get_generative

    progress = progress or (lambda phase, done, total: None)
    by_default = generators is None
    if by_default:
        from pnyx.queries.client import LLMConfig

        cfg = LLMConfig.from_env()
        generators = default_generators(profile, llm=bool(cfg.base_url and cfg.model))
    shared = {"cache": cache, "seed": seed, "executor": executor}
    disc = get_discriminative(backend, shared)
    # on vote data the participants' texts are their own comments, already statements in the pool; by
    # default extractive proposes only the data's statements (see default_generators)
    source = {"source": "statements"} if profile.scale == "vote" or by_default else {}
    gens = [get_generative(g, shared, **(source if g == "extractive" else {})) for g in generators]
    result = generative_social_choice(profile, k, discriminative=disc, generators=gens, rule=rule, budget=budget,
                                      keep_candidates=keep_candidates, seed=seed, progress=progress)
    assignment = balanced(result.utilities, result.slate)
    report = None
    if measure_accuracy:
        from pnyx.evaluate.accuracy import statement_held_out, vote_held_out

        step = lambda done, total: progress("accuracy", done, total)  # noqa: E731
        report = (vote_held_out(profile, disc, seed=seed, progress=step) if profile.scale == "vote"
                  else statement_held_out(profile, disc, progress=step))
    progress("audit", 0, 1)
    checked = audit(result, assignment, accuracy=report, usage=usage_of([disc, *gens]))
    progress("audit", 1, 1)
    return Run(result=result, assignment=assignment, audit=checked, backend=backend, generators=list(generators))
