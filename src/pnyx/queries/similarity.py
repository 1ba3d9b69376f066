"""``similarity``: utilities from what participants wrote, when nobody judged anything.

For free text without ratings (the paper's own input before any discriminative query) the only
offline signal is how close a statement is to what a participant wrote. The utility of participant i
for statement s is the cosine similarity of their sentence embeddings (all-MiniLM-L6-v2, offline,
:mod:`pnyx.queries.embed`), placed on the 0–4 scale by the participants' own texts: 0 at the 5th
percentile of the similarity between two different participants' texts (as far apart as two
opinions in this consultation get), 4 at the 99th percentile (as close as two participants ever
are), linear in between and clipped. The calibration
depends only on the participants' texts, so a participant's utility for a statement does not change as
candidates are added, and it does not depend on the order of the rows.

These are similarity scores, not ratings: they measure topic and wording, not agreement (a sentence
and its negation are close). The audit says so; real utilities come from an LLM endpoint or a rating
round. A participant without text gets no prediction (NaN), which the process reports.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pnyx.data import MAX_UTILITY, InputError, Profile
from pnyx.queries import register_discriminative
from pnyx.queries.base import DiscriminativeBackend, Prediction


def calibration(T: np.ndarray) -> tuple[float, float]:
    """(low, high): the 5th and 99th percentiles of cosine similarity between different rows of T."""
    S = T @ T.T
    off = S[~np.eye(len(T), dtype=bool)]
    if off.size == 0:
        return 0.0, 1.0
    low, high = np.quantile(off, [0.05, 0.99])
    return float(low), float(max(high, low + 1e-6))


@register_discriminative("similarity")
class Similarity(DiscriminativeBackend):
    """Cosine similarity of participant text and statement, on 0–4 (see the module docstring)."""

    name = "similarity"

    def __init__(self, *, embed=None, seed: int = 0, cache: Any = None, executor: Any = None):
        self._embed = embed

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._embed is None:
            from pnyx.queries.embed import MODEL_NAME, embed

            self._embed, self.model = embed, MODEL_NAME
        return np.asarray(self._embed(list(texts)), dtype=float)

    def predict(self, profile: Profile, participants: Sequence[int] | None = None,
                statements: Sequence[int] | None = None) -> Prediction:
        rows = np.arange(profile.n) if participants is None else np.asarray(participants, dtype=int)
        cols = np.arange(profile.m) if statements is None else np.asarray(statements, dtype=int)
        texts = [p.text() for p in profile.participants]
        has = np.array([bool(t.strip()) for t in texts])
        if has.sum() < 2:
            raise InputError("the similarity backend compares statements with what participants wrote, and fewer "
                             "than two participants wrote anything; give the participants' answers, or judgments "
                             "for another backend", field="--backend")
        written = np.flatnonzero(has)
        E = self.embed([texts[i] for i in written])
        T = np.full((profile.n, E.shape[1]), np.nan)
        T[written] = E
        low, high = calibration(E)
        S = self.embed([profile.statements[j].text for j in cols]) if len(cols) else np.zeros((0, E.shape[1]))
        cos = T[rows] @ S.T
        U = np.clip(MAX_UTILITY * (cos - low) / (high - low), 0.0, MAX_UTILITY)
        return Prediction(U, rows, cols, self.name, getattr(self, "model", ""),
                          info={"calibration": {"p5": low, "p99": high}, "without_text": int((~has).sum())})
