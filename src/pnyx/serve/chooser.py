"""Which statements a participant rates next: a pluggable chooser.

A chooser is a callable ``(participant, state) -> list of statement ids`` (at most ``state.batch``
ids, best first) over a :class:`ConsultationState` snapshot; it does no I/O of its own (the planner
reads the consultation through ``state.load_profile``, in the background). Choosers are registered in
:data:`CHOOSERS` by name (:func:`make_chooser`); the server uses :data:`DEFAULT_CHOOSER` (``planner``)
unless it is given another.

* ``planner``: :class:`LivePlanner`, the query planner of :mod:`pnyx.planner` (issue 10): the
  judgments that most affect the GSC process run on the current predictions, least-rated-first where
  the planner does not apply (no judgments yet, a participant or statement newer than its state).
* ``least-rated``: :func:`least_rated`, the least-judged statements first, ties in a seeded shuffle.
* ``random``: :func:`random_order`, a seeded shuffle per participant.

>>> state = ConsultationState(consultation=1, seed=0, statements=["1", "2", "3"],
...                           counts={"1": 4, "2": 0, "3": 1}, done={"p1": {"3"}})
>>> least_rated("p1", state)
['2', '1']
"""

from __future__ import annotations

import dataclasses
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from pnyx.registry import Registry

BATCH = 5


@dataclass
class ConsultationState:
    """What a chooser may look at: the statements open for rating and who judged what."""

    consultation: int
    seed: int
    statements: list[str]
    """Ids of the statements a participant may be asked about (approved, or not rejected when moderation is permissive)."""
    counts: dict[str, int]
    """Judgments so far per statement id."""
    done: dict[str, set[str]] = field(default_factory=dict)
    """Participant id → statement ids they judged, flagged or wrote (never asked again)."""
    batch: int = BATCH
    k: int = 1
    """The consultation's slate size (the planner plans for it)."""
    load_profile: Callable[[], Any] | None = None
    """For adaptive choosers: returns the judgments so far as a :class:`pnyx.data.Profile` (participants by
    number, statements by id), read from the database in a session of its own when called."""
    source: str = ""
    """Which database the consultation is in (with ``consultation``, the key of a chooser's cache)."""


Chooser = Callable[[str, ConsultationState], list[str]]

CHOOSERS: Registry[Any] = Registry("chooser")
"""Name → chooser; entries registered with ``factory=True`` are classes, one instance per server."""


def make_chooser(name: str) -> Chooser:
    """The chooser registered as ``name`` (a new instance for stateful ones).

    Raises
    ------
    pnyx.registry.UnknownNameError
        For a name that is not registered (the message lists the known ones).
    """
    entry = CHOOSERS[name]
    return entry() if CHOOSERS.meta(name).get("factory") else entry


def _shuffled(participant: str, state: ConsultationState, todo: list[str]) -> np.ndarray:
    """A random key per statement of ``todo``, seeded by the consultation's seed, the participant and the
    statement id (so each participant sees a different, reproducible order)."""
    ids = np.array([int(s) if s.isdigit() else zlib.crc32(s.encode()) for s in todo], dtype=np.uint64)
    salt = np.uint64(zlib.crc32(f"{state.seed}|{participant}".encode()))
    with np.errstate(over="ignore"):  # a splitmix64 step of (salt, id): wraps around by design
        z = (ids * np.uint64(0x9E3779B97F4A7C15) + salt * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(2**64 - 1)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _todo(participant: str, state: ConsultationState) -> list[str]:
    done = state.done.get(participant, set())
    return [s for s in state.statements if s not in done]


@CHOOSERS.register("least-rated")
def least_rated(participant: str, state: ConsultationState) -> list[str]:
    """The least-judged statements the participant has not judged yet; ties in a shuffle seeded by the
    consultation's seed and the participant (so each participant sees a different, reproducible order)."""
    todo = _todo(participant, state)
    counts = np.array([state.counts.get(s, 0) for s in todo])
    order = np.lexsort((_shuffled(participant, state, todo), counts))
    return [todo[a] for a in order[: state.batch]]


@CHOOSERS.register("random")
def random_order(participant: str, state: ConsultationState) -> list[str]:
    """Statements the participant has not judged yet, in a shuffle seeded by the consultation and the participant."""
    todo = _todo(participant, state)
    return [todo[a] for a in np.argsort(_shuffled(participant, state, todo), kind="stable")[: state.batch]]


@dataclass
class _Plan:
    """The planner's state for one consultation: :func:`pnyx.planner.judgment_value` on a profile."""

    weights: np.ndarray | None
    """n × m, or None where the planner does not apply (then: least-rated)."""
    rows: dict[str, int]
    cols: dict[str, int]
    judgments: int
    """Judgments in the consultation when the profile was read."""
    built: float
    """``time.monotonic()`` when it was built."""
    cost: float
    """Seconds it took to build."""


@CHOOSERS.register("planner", factory=True)
class LivePlanner:
    """The query planner (:class:`pnyx.planner.PlannerChooser`) as the server's chooser.

    Per request it only ranks the participant's row of a cached weight matrix (the value of each
    judgment to the GSC process, :func:`pnyx.planner.judgment_value`, on the ``cf`` predictions) with
    the current judgment counts (:func:`pnyx.planner.choose_for_participant`: w/√(1 + judgments so far)).
    The matrix of a consultation is rebuilt from the database in a background thread
    (``background=False``: in the request, for tests) when ``refresh_every`` judgments have arrived
    since it was read, or any judgment and ``max_age`` seconds have passed (or the planner did not apply
    to the last one); never sooner than ``min_interval`` seconds, nor than 10 × the last build's time
    after it (so the planner takes at most about a tenth of a core, whatever the consultation's size);
    meanwhile the last one is used. Statements the participant would get no weight for (settled ones,
    statements or participants newer than the matrix) follow in least-rated order; so does everything
    while the planner does not apply (no judgment yet, fewer than two participants or statements, or the
    predictor failed on the data: :attr:`error` says why).

    Parameters
    ----------
    refresh_every, max_age, min_interval
        When the matrix is rebuilt (judgments, seconds, seconds; see above).
    background
        Rebuild in a background thread (True) or in the request that finds it stale.
    """

    def __init__(self, *, refresh_every: int = 200, max_age: float = 10.0, min_interval: float = 2.0,
                 background: bool = True):
        self.refresh_every, self.max_age, self.min_interval = refresh_every, max_age, min_interval
        self.background = background
        self._plans: dict[tuple[str, int], _Plan] = {}
        self._building: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self.builds = 0
        """How many matrices were built (for tests and the benchmark)."""
        self.error: str | None = None
        """Why the last build failed (then least-rated order until the next one), or None."""

    def _stale(self, plan: _Plan | None, judgments: int) -> bool:
        if plan is None:
            return True
        age, fresh = time.monotonic() - plan.built, judgments - plan.judgments
        if fresh <= 0 or age < max(self.min_interval, 10 * plan.cost):  # the planner: at most ~10 % of a core
            return False
        return fresh >= self.refresh_every or age >= self.max_age or plan.weights is None

    def build(self, state: ConsultationState, judgments: int) -> _Plan:
        """Read the consultation's profile and compute the planner's weights (the expensive part)."""
        from pnyx.planner import PlannerChooser

        started, profile, weights = time.monotonic(), None, None
        try:
            profile = state.load_profile() if state.load_profile is not None else None
            if profile is not None and profile.n >= 2 and profile.m >= 2 and profile.observed.any():
                weights = PlannerChooser(min(state.k, profile.n), seed=state.seed).weights(profile)
            self.error = None
        except Exception as exc:  # noqa: BLE001 - choosing must not fail a request: least-rated until the next build
            self.error = f"{type(exc).__name__}: {exc}"
        self.builds += 1
        return _Plan(weights, {} if profile is None else {p: i for i, p in enumerate(profile.participant_ids)},
                     {} if profile is None else {s: j for j, s in enumerate(profile.statement_ids)}, judgments,
                     started, time.monotonic() - started)

    def _refresh(self, key: tuple[str, int], state: ConsultationState, judgments: int) -> None:
        try:
            plan = self.build(state, judgments)
            with self._lock:
                self._plans[key] = plan
        finally:
            with self._lock:
                self._building.discard(key)

    def plan(self, state: ConsultationState) -> _Plan | None:
        """The consultation's current matrix (starting a rebuild when it is stale)."""
        key = (state.source, state.consultation)
        judgments = sum(state.counts.values())
        with self._lock:
            plan = self._plans.get(key)
            start = self._stale(plan, judgments) and key not in self._building
            if start:
                self._building.add(key)
        if start:
            if self.background:
                threading.Thread(target=self._refresh, args=(key, state, judgments), daemon=True,
                                 name=f"pnyx-planner-{state.consultation}").start()
            else:
                self._refresh(key, state, judgments)
                plan = self._plans.get(key)
        return plan

    def __call__(self, participant: str, state: ConsultationState) -> list[str]:
        from pnyx.planner import choose_for_participant

        plan = self.plan(state)
        row = None if plan is None or plan.weights is None else plan.rows.get(participant)
        chosen: list[str] = []
        if row is not None:
            todo = [s for s in _todo(participant, state) if s in plan.cols]
            cols = np.array([plan.cols[s] for s in todo], dtype=int)
            m = plan.weights.shape[1]
            known = np.ones((1, m), bool)
            known[0, cols] = False
            counts = np.zeros(m)
            counts[cols] = [state.counts.get(s, 0) for s in todo]
            weights = plan.weights[row:row + 1]
            ranked = choose_for_participant(0, weights, known, m + 1, counts)
            sid_of = dict(zip(cols.tolist(), todo))
            chosen = [sid_of[j] for j in ranked if weights[0, j] > 0][: state.batch]
        if len(chosen) == state.batch:
            return chosen
        rest = least_rated(participant, dataclasses.replace(state, batch=2 * state.batch))
        return (chosen + [s for s in rest if s not in chosen])[: state.batch]


DEFAULT_CHOOSER = "planner"
"""The name of the chooser ``pnyx serve`` uses unless told otherwise (``--chooser``)."""
