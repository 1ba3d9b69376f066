"""The two query interfaces of generative social choice; every backend implements one of them.

* Discriminative query (Fish et al., arXiv 2309.01291, §3): how much would participant i agree with
  statement s, on the 0–4 utility scale of :mod:`pnyx.data`.
* Generative query: given a group of participants, write or pick statements that as many of them as
  possible rate highly.

Backends are looked up by name in :mod:`pnyx.queries` (``get_discriminative`` /
``get_generative``); model calls go through the one client and the one cache.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from pnyx.data import MAX_UTILITY, Profile
from pnyx.scale import MIDPOINT


def participant_means(profile: Profile, exclude: int | None = None) -> np.ndarray:
    """Each participant's mean observed utility, over the statements other than ``exclude`` if given
    (the global mean for a participant with none; the scale's midpoint when nothing is observed)."""
    obs = profile.observed.copy()
    if exclude is not None:
        obs[:, exclude] = False
    total = np.where(obs, profile.utilities, 0.0).sum(axis=1)
    count = obs.sum(axis=1)
    glob = total.sum() / count.sum() if count.sum() else MIDPOINT
    return np.where(count > 0, total / np.maximum(count, 1), glob)


def require_judgments(profile: Profile, backend: str) -> None:
    """Refuse, in one line naming the fix, a profile without observed judgments for a backend that learns from them."""
    if not profile.observed.any():
        from pnyx.data import InputError

        raise InputError(f"the {backend} backend learns from observed judgments and this data has none: use "
                         "--backend offline (similarity to what participants wrote) or --backend llm (an "
                         "OpenAI-compatible endpoint), or collect ratings first", field="--backend")


@dataclass
class Prediction:
    """Predicted utilities for ``participants`` × ``statements`` (indices into the profile)."""

    utilities: np.ndarray
    participants: np.ndarray
    statements: np.ndarray
    backend: str
    model: str = ""
    uncertainty: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Provenance label recorded in the profile, e.g. ``cf:biased-mf``."""
        return f"{self.backend}:{self.model}" if self.model else self.backend

    def apply(self, profile: Profile, *, overwrite_observed: bool = False, reuse: bool = False) -> Profile:
        """Write these predictions into a copy of ``profile`` (observed entries are kept). ``reuse``: this
        prediction is not used afterwards, and its arrays may become the copy's
        (:meth:`pnyx.data.Profile.with_predictions`)."""
        return profile.with_predictions(self.utilities, self.label, uncertainty=self.uncertainty,
                                        overwrite_observed=overwrite_observed, rows=self.participants,
                                        cols=self.statements, reuse=reuse)


class DiscriminativeBackend(ABC):
    """Predicts utilities from what the profile holds (texts, other judgments)."""

    name: str = ""
    model: str = ""
    needs_judgments: bool = False
    """Learns from observed judgments (and refuses data without any, before any work is done)."""

    @abstractmethod
    def predict(
        self,
        profile: Profile,
        participants: Sequence[int] | None = None,
        statements: Sequence[int] | None = None,
    ) -> Prediction:
        """Predict utilities for every (participant, statement) pair of the two index lists (default: all).

        Implementations may use every *observed* entry of ``profile``; held-out evaluation hides
        entries with :meth:`Profile.hide` before calling. The arrays returned are the caller's (new, not
        kept by the backend): :meth:`Prediction.apply` may reuse them.
        """


@dataclass
class Candidate:
    """A candidate statement and how it was made."""

    text: str
    generator: str
    statement_id: str | None = None
    """The data's own statement id when the candidate was picked from the data (extractive)."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Prompt, model, seed, temperature, the participants it was written for, ..."""


class GenerativeBackend(ABC):
    """Writes or picks candidate statements for a group of participants."""

    name: str = ""

    @abstractmethod
    def generate(
        self,
        profile: Profile,
        participants: Sequence[int],
        *,
        size_target: int | None = None,
        word_budget: int | None = None,
        seed: int = 0,
    ) -> list[Candidate]:
        """Candidates meant to be rated highly by at least ``size_target`` of ``participants``."""
