"""The generative social choice process (Fish et al., arXiv 2309.01291, §4; budgeted: arXiv 2505.22939).

For k rounds: ask the generative backends (an ensemble) for candidate statements for the participants
still unmatched; predict every participant's utility for the new candidates with the discriminative
backend; among the candidate pool choose, by the GSC rule (:func:`pnyx.rules.gsc.gsc_round`), the
statement whose r-th highest utility among the unmatched is largest; match those r participants to
it. With n = qk + p the first p rounds match ⌈n/k⌉ participants and the others ⌊n/k⌋, so the matching
is balanced and covers everyone.

Choices this module makes on purpose (all recorded in the result):

* **Near-ties** among candidates (exact, or within ``tolerance``) go to the statement whose group the
  slate so far serves least, then to the largest distinctive support, so that each round speaks for a
  different part of the population; exact ties leave BJR intact, a tolerance ε gives ε-BJR
  (:mod:`pnyx.rules.gsc`).
* **Seats.** A statement already on the slate stays in the pool: the paper's generative query may
  return it again, and its argument for BJR needs that. Chosen again, it takes another *seat* (another
  group of ⌈n/k⌉ or ⌊n/k⌋ participants); fresh statements win near-ties against it. With
  ``ProcessOptions(seats=False)`` every statement is chosen once, and a statement wanted by more people
  than its places can then violate BJR (the audit says so).
* **The pool.** The data's own statements are always in it (their unknown utilities predicted once,
  up front), except those that should not compete (:class:`PoolPolicy`): meta statements
  (demographic questions; Polis ``is-meta``, or, in exports without that mark, the moderator's
  statements worded as one, :func:`looks_demographic`), statements excluded by id, and data statements with
  fewer observed approvals than ``min_support`` (a statement almost nobody judged cannot win on
  predictions alone). Seed statements compete like any other.

Budgeted (a word budget B; statement cost = words): each round generates for the participants the
budgeted GSC rule (``gsc-budgeted`` of :mod:`pnyx.rules`) leaves unmatched on the pool so far, asking
for statements of at most ``min(u, ⌈n/k⌉)·B/n`` words (u unmatched), and the rule is rerun on the
grown pool; the last run's slate is the result. Any other rule of :mod:`pnyx.rules` runs once over a
fixed pool (the data's statements and one generation round for everyone), for comparison.

Observed judgments always win over predictions (:meth:`pnyx.queries.base.Prediction.apply` keeps
them). Utilities still unknown after prediction are an error, never silently 0.

:func:`generative_social_choice` is pure (a profile and backend objects in, a :class:`ProcessResult`
out); :mod:`pnyx.pipeline` builds the backends by name and :mod:`pnyx.audit` checks the result.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from pnyx.blocks import column_counts, column_sums
from pnyx.data import InputError, Profile, Statement
from pnyx.queries.base import Candidate, DiscriminativeBackend, GenerativeBackend
from pnyx.rules.base import Tie
from pnyx.rules.gsc import check_tiebreak, gsc_round, round_sizes, transposed

Progress = Callable[[str, int, int], None]
"""``progress(phase, completed, total)``, called as each phase advances."""


class ProcessError(RuntimeError):
    """The process cannot go on (e.g. utilities a backend could not predict, no candidates)."""


@dataclass(frozen=True)
class PoolPolicy:
    """Which of the data's statements may compete.

    ``min_support`` None means the default, :func:`default_min_support`; 0 turns the check off.
    """

    exclude: frozenset[str] = frozenset()
    """Statement ids that never compete (e.g. from ``--exclude-statements``)."""
    include_meta: bool = False
    """Let meta statements (``profile.info["meta_comments"]``, Polis ``is-meta``) compete."""
    min_support: int | None = None


@dataclass(frozen=True)
class ProcessOptions:
    """The process's choices (:func:`generative_social_choice`), checked once, when they are made.

    Raises
    ------
    pnyx.registry.UnknownNameError
        An unknown ``rule`` (the names of :data:`pnyx.rules.RULES`).
    InputError
        An unknown ``tiebreak``, a negative ``tolerance``, a ``budget`` below one word, or the rule
        ``gsc-budgeted`` without a budget.
    """

    rule: str = "gsc"
    """``gsc`` (rounds), ``gsc-budgeted`` (or ``gsc`` with a ``budget``), or another rule of :mod:`pnyx.rules`
    over a fixed pool, for comparison."""
    budget: int | None = None
    """Word budget B for the whole slate (the budgeted process, arXiv 2505.22939); None: no budget."""
    keep_candidates: bool = True
    """Keep earlier rounds' candidates in the pool (else only the data's statements, the slate and the
    round's new candidates compete)."""
    seats: bool = True
    """Let a slate statement be chosen again, for another seat (see the module docstring)."""
    tolerance: float = 0.0
    """Candidates whose score is within this of the best are near-ties; the guarantee is then ε-BJR
    (:func:`pnyx.rules.gsc.gsc_round`)."""
    tiebreak: str = "least-served"
    """How near-ties are decided, one of :data:`pnyx.rules.gsc.TIEBREAKS` (:func:`pnyx.rules.gsc.gsc_round`)."""
    policy: PoolPolicy = PoolPolicy()
    """Which data statements compete."""
    seed: int = 0
    """Seeds round t's generators with ``seed + t``, and the rules that draw at random."""

    def __post_init__(self) -> None:
        from pnyx.rules import RULES

        RULES.check(self.rule)
        check_tiebreak(self.tiebreak)
        if not self.tolerance >= 0:
            raise InputError(f"the near-tie tolerance must be at least 0, got {self.tolerance}", field="tolerance")
        if self.budget is not None and self.budget < 1:
            raise InputError(f"the word budget must be at least 1 word, got {self.budget}", field="budget")
        if self.rule == "gsc-budgeted" and self.budget is None:
            raise InputError("rule 'gsc-budgeted' needs a word budget", field="budget")

    @property
    def effective_rule(self) -> str:
        """The rule that runs: ``gsc`` with a budget is ``gsc-budgeted``."""
        return "gsc-budgeted" if self.budget is not None and self.rule == "gsc" else self.rule


_DEMOGRAPHIC = re.compile("|".join([
    # "I am under 30 years of age", "I identify as female", "I live in a large city", "I voted to Remain"
    r"^\s*(i am|i'm|i identify|i live|i have lived|i was born|i voted|i did not vote|i didn't vote|are you)\b.*"
    r"\b(years? (old|of age)|aged?|male|female|man|woman|non-binary|gender|born|lives?|lived|voted|vote|eligible"
    r"|student|retired|parent|employed|unemployed|city|town|rural|region|country)\b",
    r"^\s*my (gender|ethnicity|race|age|religion|first language|native language|income|occupation|sexuality)\b",
    r"\bis my (first|native|main) language\b",
    r"^\s*我(是|有|曾|住在|在台灣以外)",  # Chinese: "I am a …", "I have used …", "I live in …" (not 我覺得, "I think")
]), re.IGNORECASE)


def looks_demographic(text: str) -> bool:
    """Whether a statement reads as a demographic question about the participant ("I am under 30 years of
    age", "I identify as female", "I live in a large city", "我是計程車司機") rather than an opinion
    (English and Chinese wording).

    >>> looks_demographic("I am between 15 and 19 years old."), looks_demographic("I am worried about pests.")
    (True, False)
    """
    return bool(_DEMOGRAPHIC.search(text))


def default_min_support(n: int, k: int) -> int:
    """Observed approvals a data statement needs to compete: a tenth of a round's group, ⌈⌈n/k⌉/10⌉.

    536 participants, k = 5: 11; k = 10: 6; 26 participants, k = 5: 1.
    """
    return max(1, math.ceil(math.ceil(n / k) / 10))


@dataclass
class PoolReport:
    """The data statements left out of the pool and why."""

    excluded: dict[str, list[str]] = field(default_factory=dict)
    """Reason → statement ids."""
    min_support: int = 0


def eligible_columns(profile: Profile, k: int, policy: PoolPolicy) -> tuple[np.ndarray, PoolReport]:
    """Boolean mask of the profile's statements allowed to compete, and what was left out.

    ``min_support`` counts observed approvals (utility ≥ the scale's approval threshold) and applies to
    data statements only where the profile observes anything; generated statements have no observed
    judgments by nature and are always eligible.
    """
    ok = np.ones(profile.m, dtype=bool)
    report = PoolReport()
    ids = profile.statement_ids
    meta = set() if policy.include_meta else {str(s) for s in profile.info.get("meta_comments", [])}
    inferred = np.zeros(profile.m, dtype=bool)
    if not policy.include_meta and profile.info.get("meta_marked") is False and profile.m:
        # an export without is-meta marks: the moderator's demographic questions (author of the first statement)
        moderator = profile.statements[0].author
        inferred = np.array([s.source == "data" and s.author is not None and s.author == moderator
                             and looks_demographic(s.text) for s in profile.statements], dtype=bool)
    need = default_min_support(profile.n, k) if policy.min_support is None else int(policy.min_support)
    with np.errstate(invalid="ignore"):
        support = column_sums(profile.n, profile.m, lambda b: column_counts(
            profile.observed[b] & (profile.utilities[b] >= profile.scale.approval)))
    checks = [
        ("meta statement", np.array([sid in meta for sid in ids], dtype=bool)),
        ("meta statement (inferred: the moderator's demographic question)", inferred),
        ("excluded by id", np.array([sid in policy.exclude for sid in ids], dtype=bool)),
    ]
    if need > 0 and profile.observed.any():
        from_data = np.array([s.source == "data" for s in profile.statements], dtype=bool)
        checks.append((f"fewer than {need} observed approvals", from_data & (support < need)))
        report.min_support = need
    for reason, hit in checks:
        hit = hit & ok
        if hit.any():
            report.excluded[reason] = [ids[j] for j in np.flatnonzero(hit)]
            ok &= ~hit
    return ok, report


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
    ties: list[Tie] = field(default_factory=list)
    """Ties met, in profile columns (candidates) and rows (participants)."""
    distinctive: dict[int, float] = field(default_factory=dict)
    """``gsc``: distinctive support of the candidates that tied with the chosen one."""
    served: np.ndarray | None = None
    """``gsc``: each participant's best utility among the slate statements at the start of the round."""
    repeat: bool = False
    """``gsc``: the chosen statement was already on the slate and takes another seat."""
    unmatched_mask: np.ndarray | None = None
    """``gsc``: who was unmatched at the start of the round (for the audit's near-tie band)."""
    queries: dict[str, Any] | None = None
    """Adaptive queries (:class:`pnyx.planner.AdaptiveQueries`): calls this round, settled or not."""


@dataclass
class ProcessResult:
    """The slate, who each statement speaks for, and how the process got there."""

    profile: Profile
    """Data statements plus every candidate proposed, with the utilities used (observed or predicted)."""
    slate: list[int]
    """Column of ``profile`` of each seat, in selection order; a column repeats when its statement holds
    several seats."""
    matching: np.ndarray
    """Seat each participant was matched to by the process (−1: unmatched, budgeted only)."""
    rule: str
    """The rule that ran (:attr:`ProcessOptions.effective_rule`)."""
    options: ProcessOptions
    """The choices the process ran with."""
    rounds: list[RoundLog] = field(default_factory=list)
    eligible: np.ndarray | None = None
    """Boolean mask over ``profile``'s columns: the statements that could compete."""
    pool_report: PoolReport = field(default_factory=PoolReport)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def statements(self) -> list[Statement]:
        """The statement of each seat."""
        return [self.profile.statements[j] for j in self.slate]

    @property
    def supporters(self) -> list[list[int]]:
        """Participant indices matched to each seat."""
        return [np.flatnonzero(self.matching == s).tolist() for s in range(len(self.slate))]

    @property
    def distinct(self) -> list[int]:
        """The slate's columns, each once, in order of first selection."""
        return list(dict.fromkeys(self.slate))

    @property
    def utilities(self) -> np.ndarray:
        return self.profile.utilities

    @property
    def complete(self) -> bool:
        """Whether the process's matching covers every participant (not so for the budgeted process)."""
        return bool((self.matching >= 0).all())


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
            if not c.text.strip():
                continue
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

    def _unknown(self, cols: list[int]) -> np.ndarray:
        """How many utilities of each of ``cols`` are unknown (NaN)."""
        U = self.profile.utilities
        return column_sums(self.profile.n, len(cols), lambda b: column_counts(np.isnan(U[b][:, cols])))

    def fill(self, cols: list[int]) -> None:
        """Predict the unknown utilities of ``cols`` for everyone (once per column)."""
        fresh = [j for j in cols if j not in self.filled]
        pending = [j for j, c in zip(fresh, self._unknown(fresh)) if c]
        if pending:
            self.profile = self.discriminative.predict(self.profile, statements=pending).apply(self.profile, reuse=True)
            missing = self._unknown(pending)
            if missing.any():
                j = pending[int(np.flatnonzero(missing)[0])]
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
    options: ProcessOptions = ProcessOptions(),
    progress: Progress | None = None,
    oracle: Any = None,
) -> ProcessResult:
    """Run the process on ``profile`` for a slate of ``k`` seats.

    Parameters
    ----------
    profile
        Participants, the data's statements and the observed judgments.
    k
        Seats on the slate (1 ≤ k ≤ n).
    discriminative, generators
        Backend objects (:mod:`pnyx.queries`): one predicts utilities, an ensemble proposes candidates.
    options
        The rule, budget, pool, near-ties and seed (:class:`ProcessOptions`, checked when made).
    progress
        ``progress(phase, completed, total)`` (:data:`Progress`).
    oracle
        Adaptive queries (:class:`pnyx.planner.AdaptiveQueries`, ``gsc`` only): the pool is filled by its
        cheap screen and each round asks ``discriminative`` only for the pairs the query planner chooses.

    Returns
    -------
    ProcessResult

    Raises
    ------
    InputError
        k out of range, no generator, adaptive queries with a rule other than ``gsc``.
    ProcessError
        A backend left utilities unknown, or no statement could compete.
    """
    if not 1 <= k <= profile.n:
        raise InputError(f"k must be between 1 and the number of participants ({profile.n}), got {k}", field="k")
    if not generators:
        raise InputError("at least one generative backend is needed", field="generators")
    rule = options.effective_rule
    if oracle is not None and rule != "gsc":
        raise InputError(f"adaptive queries run the gsc rule only, not {rule!r}; use --queries exhaustive",
                         field="queries")
    progress = progress or (lambda phase, done, total: None)
    eligible, pool_report = eligible_columns(profile, k, options.policy)
    pool = _Pool(profile, discriminative if oracle is None else oracle.screen)
    progress("impute", 0, 1)
    pool.fill(list(range(profile.m)))
    progress("impute", 1, 1)
    common = {"eligible": eligible, "pool_report": pool_report}
    if rule == "gsc":
        return _rounds(pool, k, generators, options, progress, common, oracle)
    if rule == "gsc-budgeted":
        return _budgeted(pool, k, generators, options, progress, common)
    return _fixed_pool(pool, k, rule, generators, options, progress, common)


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


def _grow(eligible: np.ndarray, m: int) -> np.ndarray:
    """The eligibility mask extended to new (generated, always eligible) columns."""
    return np.concatenate([eligible, np.ones(m - eligible.size, dtype=bool)])


def _to_columns(tie: Tie, pool: list[int], t: int) -> Tie:
    tie.round = t
    return tie.relabel(pool)


def _grown(columns: np.ndarray | None, U: np.ndarray) -> np.ndarray:
    """U.T (:func:`pnyx.rules.gsc.transposed`) from the transpose of U's first columns: a pooled column's
    utilities never change once predicted (:class:`_Pool`), so only new columns are transposed."""
    if columns is None:
        return transposed(U)
    if columns.shape[0] == U.shape[1]:
        return columns
    return np.concatenate([columns, transposed(U[:, columns.shape[0]:])])


def _rounds(pool: _Pool, k: int, generators, options: ProcessOptions, progress: Progress, common: dict[str, Any],
            oracle: Any = None) -> ProcessResult:
    n = pool.profile.n
    unmatched = np.ones(n, dtype=bool)
    matching = np.full(n, -1, dtype=int)
    slate: list[int] = []
    data = list(range(pool.profile.m))
    kept: list[int] = list(data)
    log: list[RoundLog] = []
    columns = None  # the pool matrix transposed, for gsc_round; grown as candidates add columns
    for t, r in enumerate(round_sizes(n, k)):
        before = unmatched.copy()
        new = _propose(pool, generators, unmatched, t, k, size_target=r, word_budget=None, seed=options.seed,
                       progress=progress)
        eligible = _grow(common["eligible"], pool.profile.m)
        kept = list(dict.fromkeys((kept if options.keep_candidates else data + slate) + new))
        cols = [j for j in kept if eligible[j] and (options.seats or j not in slate)]
        if not cols:
            left = "; ".join(f"{len(v)} {why}" for why, v in common["pool_report"].excluded.items()) or "none"
            raise ProcessError(f"round {t + 1}: no statement can compete (the generators proposed none that is "
                               f"eligible and not on the slate; left out: {left}); lower --min-support or add "
                               "generators")
        on_slate = np.isin(cols, slate)
        served = pool.profile.utilities[:, slate].max(axis=1) if slate else None
        choice = {"tolerance": options.tolerance, "tiebreak": options.tiebreak, "repeated": on_slate,
                  "served": served}
        if options.tiebreak == "seen-first":
            choice["seen"] = pool.profile.observed[:, cols].sum(axis=0)
        asked = None
        if oracle is None:
            U = pool.profile.utilities
            columns = _grown(columns, U)
            everything = len(cols) == U.shape[1] and cols == list(range(U.shape[1]))
            step = gsc_round(U, unmatched, r, columns=columns, pool=None if everything else np.asarray(cols), **choice)
        else:
            pool.profile, step, asked = oracle.round(pool.profile, cols, unmatched, r, **choice)
        j = cols[step.candidate]
        matching[step.matched] = t
        unmatched[step.matched] = False
        log.append(RoundLog(round=t + 1, size_target=r, word_budget=None, unmatched=int(before.sum()),
                            candidates=new, pool=cols, chosen=[j], score=step.score,
                            scores={c: float(s) for c, s in zip(cols, step.scores)},
                            matched=np.asarray(step.matched).tolist(),
                            ties=[_to_columns(x, cols, t + 1) for x in step.ties],
                            distinctive={cols[c]: v for c, v in step.distinctive.items()},
                            repeat=j in slate, unmatched_mask=before, served=served, queries=asked))
        slate.append(j)
        progress("choose", t + 1, k)
    common["eligible"] = _grow(common["eligible"], pool.profile.m)
    info = {} if oracle is None else {"queries": oracle.summary(pool.profile)}
    return ProcessResult(profile=pool.profile, slate=slate, matching=matching, rule="gsc", options=options, rounds=log,
                         info=info, **common)


def _budgeted(pool: _Pool, k: int, generators, options: ProcessOptions, progress: Progress,
              common: dict[str, Any]) -> ProcessResult:
    from pnyx.rules import compute

    budget = options.budget
    n = pool.profile.n
    unmatched = np.ones(n, dtype=bool)
    cols = [j for j in range(pool.profile.m) if common["eligible"][j]]
    log: list[RoundLog] = []
    result = None
    for t in range(k):
        if not unmatched.any():
            break
        before = int(unmatched.sum())
        words = max(1, int(min(before, math.ceil(n / k)) * budget / n))
        new = _propose(pool, generators, unmatched, t, k, size_target=math.ceil(words * n / budget),
                       word_budget=words, seed=options.seed, progress=progress)
        if result is not None and set(new) <= set(cols):
            break  # nothing new to choose from: another round would change nothing
        cols = list(dict.fromkeys(cols + new))
        costs = [pool.profile.statements[j].cost for j in cols]
        result = compute("gsc-budgeted", pool.profile.utilities[:, cols], k, budget=budget, costs=costs)
        unmatched = np.asarray(result.info["assignment"]) < 0
        log.append(RoundLog(round=t + 1, size_target=math.ceil(words * n / budget), word_budget=words,
                            unmatched=before, candidates=new, pool=list(cols), chosen=[cols[c] for c in result.slate],
                            ties=[_to_columns(x, cols, t + 1) for x in result.ties]))
        progress("choose", t + 1, k)
    if result is None or not result.slate:
        raise ProcessError(f"no candidate statement fits the budget of {budget} words with enough supporters")
    common["eligible"] = _grow(common["eligible"], pool.profile.m)
    slate = [cols[c] for c in result.slate]
    return ProcessResult(profile=pool.profile, slate=slate, matching=np.asarray(result.info["assignment"], dtype=int),
                         rule="gsc-budgeted", options=options, rounds=log,
                         info={"budget": budget, "words": int(result.info["spent"]), "unmatched": int(unmatched.sum()),
                               "rule_rounds": result.info["rounds"]}, **common)


def _fixed_pool(pool: _Pool, k: int, rule: str, generators, options: ProcessOptions, progress: Progress,
                common: dict[str, Any]) -> ProcessResult:
    from pnyx.assignment import balanced
    from pnyx.rules import compute

    n = pool.profile.n
    _propose(pool, generators, np.ones(n, dtype=bool), 0, 1, size_target=math.ceil(n / k), word_budget=None,
             seed=options.seed, progress=progress)
    common["eligible"] = _grow(common["eligible"], pool.profile.m)
    cols = [j for j in range(pool.profile.m) if common["eligible"][j]]  # the data's statements and the new ones
    if len(cols) < k:
        raise ProcessError(f"rule {rule!r} needs at least k = {k} eligible statements; the pool has {len(cols)}")
    from pnyx.rules import RULES

    groups = pool.profile.groups()
    available = {"seed": options.seed, "groups": None if all(g is None for g in groups) else groups}
    result = compute(rule, pool.profile.utilities[:, cols], k, **{s: available[s] for s in RULES[rule].settings})
    slate = [cols[c] for c in result.slate]
    matching = np.asarray(balanced(pool.profile.utilities, slate).assignment, dtype=int)
    progress("choose", 1, 1)
    return ProcessResult(profile=pool.profile, slate=slate, matching=matching, rule=rule, options=options,
                         info={"pool": cols, "rule_status": result.status, "rule_scores": list(result.scores),
                               "ties": [_to_columns(x, cols, x.round) for x in result.ties]}, **common)
