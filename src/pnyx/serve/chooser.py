"""Which statements a participant rates next: a pluggable chooser.

A chooser is a function ``(participant, state) -> list of statement ids`` (at most ``state.batch``
ids, best first) over a :class:`ConsultationState` snapshot; it does no I/O. Choosers are registered
in :data:`CHOOSERS` by name; the server uses :data:`DEFAULT_CHOOSER` unless it is given another
(an adaptive query planner plugs in here).

>>> state = ConsultationState(consultation=1, seed=0, statements=["1", "2", "3"],
...                           counts={"1": 4, "2": 0, "3": 1}, done={"p1": {"3"}})
>>> least_rated("p1", state)
['2', '1']
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

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
    load_profile: Callable[[], Any] | None = None
    """For adaptive choosers: returns the judgments so far as a :class:`pnyx.data.Profile` (participants by
    number, statements by id), built from the database only when called."""


Chooser = Callable[[str, ConsultationState], list[str]]

CHOOSERS: Registry[Chooser] = Registry("chooser")


def _shuffle_key(seed: int, participant: str, statement: str) -> bytes:
    return hashlib.blake2b(f"{seed}|{participant}|{statement}".encode(), digest_size=8).digest()


@CHOOSERS.register("least-rated")
def least_rated(participant: str, state: ConsultationState) -> list[str]:
    """The least-judged statements the participant has not judged yet; ties in a shuffle seeded by the
    consultation's seed and the participant (so each participant sees a different, reproducible order)."""
    done = state.done.get(participant, set())
    todo = [s for s in state.statements if s not in done]
    todo.sort(key=lambda s: (state.counts.get(s, 0), _shuffle_key(state.seed, participant, s)))
    return todo[: state.batch]


DEFAULT_CHOOSER: Chooser = least_rated
