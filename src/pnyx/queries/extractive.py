"""``extractive``: candidates taken from the consultation itself, ranked by support in the group.

Two sources (``source``): the data's own statements (the candidate keeps its ``statement_id``) and the
sentences of the group's free-text answers. Both are ranked by the group's *r-support*, the mean of
the ``r`` highest utilities in the group for the candidate, ``r = size_target`` (default: the whole
group) — the quantity a round of the generative social choice rule maximises (Fish et al., arXiv
2309.01291, §4: a statement whose r-th highest utility is high serves a coalition of r).

Utilities are the observed ones where there are any; the other entries come from ``predictor`` (any
discriminative backend) when one is given. Sentences without a predictor get an embedding proxy: the
mean of the r highest cosines between the sentence and the members' texts, and are listed after the
statements that the group judged (the two scores are on different scales). Near-duplicates (cosine
≥ ``dedup``) are dropped, keeping the better-ranked one.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from pnyx.blocks import blocks, column_counts
from pnyx.data import Profile, Statement
from pnyx.queries import get_discriminative, register_generative
from pnyx.queries.base import Candidate, DiscriminativeBackend, GenerativeBackend

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|[\r\n]+")


def sentences(profile: Profile, participants: Sequence[int], *, min_words: int = 5) -> list[tuple[str, int]]:
    """(sentence, author index) for each sentence of at least ``min_words`` words in the members' answers."""
    out = []
    for i in participants:
        for answer in profile.participants[i].answers.values():
            out += [(s.strip(), int(i)) for s in _SENTENCE_END.split(answer or "") if len(s.split()) >= min_words]
    return out


def column_means(A: np.ndarray, empty: float = np.nan) -> np.ndarray:
    """Column means over the finite entries (``empty`` where there are none)."""
    finite = np.isfinite(A)
    count = finite.sum(axis=0)
    return np.where(count > 0, np.where(finite, A, 0.0).sum(axis=0) / np.maximum(count, 1), empty)


def r_support(U: np.ndarray, r: int) -> np.ndarray:
    """Per column of ``U`` (members × candidates, NaN unknown): mean of the r highest known values (by
    selection, ``np.partition``, not a sort)."""
    known = np.where(np.isnan(U), -np.inf, U)
    return column_means(np.partition(known, known.shape[0] - r, axis=0)[known.shape[0] - r:] if r < known.shape[0]
                        else known)


def observed_r_support(profile: Profile, rows: np.ndarray, cols: np.ndarray, r: int
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`r_support` and :func:`column_means` of the *observed* utilities of ``rows`` (distinct) × ``cols``
    (unobserved left out), from counts per level of the profile's scale, counted over blocks of rows (no
    rows × cols copy). None if some observed utility is off the scale's levels (then use :func:`r_support`)."""
    levels = profile.scale.levels[::-1].astype(np.float64)  # highest first
    U, observed = profile.utilities, profile.observed
    member = np.zeros(profile.n, dtype=bool)
    member[rows] = True
    every = cols.size == profile.m and bool((cols == np.arange(profile.m)).all())
    stored = levels.astype(U.dtype)
    as_stored = np.where(stored == levels, stored, np.nan)  # a level U's type cannot hold matches nothing
    counts = np.zeros((levels.size, cols.size), dtype=np.int64)
    total = np.zeros(cols.size, dtype=np.int64)
    for b in blocks(profile.n, cols.size):
        values = U[b] if every else U[b, cols]
        known = (observed[b] if every else observed[b, cols]) & member[b, None]
        total += column_counts(known)
        for i, level in enumerate(as_stored):
            counts[i] += column_counts(known & (values == level))
    if not np.array_equal(total, counts.sum(axis=0)):
        return None
    take = np.minimum(counts, np.maximum(0, np.minimum(r, total) - (np.cumsum(counts, axis=0) - counts)))
    with np.errstate(invalid="ignore", divide="ignore"):
        support = np.where(total > 0, levels @ take / np.minimum(r, total), np.nan)
        means = np.where(total > 0, levels @ counts / total, -np.inf)
    return support, means


def dedup(vectors: np.ndarray, threshold: float) -> list[int]:
    """Indices of rows kept, in order, dropping a row whose cosine with a kept row is ≥ threshold."""
    kept: list[int] = []
    for a in range(len(vectors)):
        if not kept or np.max(vectors[kept] @ vectors[a]) < threshold:
            kept.append(a)
    return kept


@register_generative("extractive")
class ExtractiveGenerator(GenerativeBackend):
    """Picks the data's statements and the group's own sentences with the highest support (module docstring)."""

    name = "extractive"

    def __init__(self, *, source: str = "both", max_candidates: int = 5,
                 predictor: DiscriminativeBackend | str | None = None, dedup: float = 0.9, min_words: int = 5,
                 embed=None, seed: int = 0, cache: Any = None, executor: Any = None):
        """``source``: ``statements``, ``sentences`` or ``both``; ``max_candidates``: how many to return;
        ``predictor``: a discriminative backend or its registered name; ``embed``: texts → unit vectors."""
        if isinstance(predictor, str):
            predictor = get_discriminative(predictor)
        if source not in ("statements", "sentences", "both"):
            raise ValueError(f"source must be 'statements', 'sentences' or 'both', not {source!r}")
        self.source, self.max_candidates, self.predictor = source, max_candidates, predictor
        self.dedup, self.min_words, self._embed = dedup, min_words, embed

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._embed is None:
            from pnyx.queries.embed import embed

            self._embed = embed
        return self._embed(texts)

    def _ranked(self, profile: Profile, rows: np.ndarray, r: int, word_budget: int | None) -> list[dict[str, Any]]:
        """Scored candidate records, best first (before deduplication)."""
        fits = lambda text: word_budget is None or len(text.split()) <= word_budget  # noqa: E731
        judged, proxied = [], []
        if self.source in ("statements", "both"):
            cols = np.array([j for j, s in enumerate(profile.statements) if fits(s.text)], dtype=int)
            scored = observed_r_support(profile, rows, cols, r) if self.predictor is None else None
            if scored is None:
                grid = np.ix_(rows, cols)
                U = np.where(profile.observed[grid], profile.utilities[grid], np.nan)
                if self.predictor is not None and len(cols) and np.isnan(U).any():
                    U = np.where(np.isnan(U), self.predictor.predict(profile, rows, cols).utilities, U)
                scored = r_support(U, r), column_means(U, -np.inf)
            for j, score, mean in zip(cols, *scored):
                if np.isfinite(score):
                    s = profile.statements[j]
                    judged.append({"text": s.text, "statement_id": s.id, "score": float(score), "mean": mean,
                                   "score_kind": "r-support"})
        if self.source in ("sentences", "both"):
            found = [(t, i) for t, i in sentences(profile, rows, min_words=self.min_words) if fits(t)]
            if found:
                texts = [t for t, _ in found]
                if self.predictor is not None:
                    new = [Statement(f"sentence-{a}", t, author=profile.participants[i].id, source=self.name)
                           for a, (t, i) in enumerate(found)]
                    extended = profile.add_statements(new)
                    U = self.predictor.predict(extended, rows, np.arange(profile.m, extended.m)).utilities
                    scores, means = r_support(U, r), column_means(U, -np.inf)
                    kind, into = "r-support (predicted)", judged
                else:  # found is not empty, so some member wrote text
                    members = [int(i) for i in rows if profile.participants[i].text().strip()]
                    sims = (self.embed(texts) @ self.embed([profile.participants[i].text() for i in members]).T).T
                    scores, means = r_support(sims, min(r, len(members))), column_means(sims, -np.inf)
                    kind, into = "embedding proxy", proxied
                for (t, i), score, mean in zip(found, scores, means):
                    into.append({"text": t, "statement_id": None, "score": float(score), "mean": mean,
                                 "score_kind": kind, "author": profile.participants[i].id})
        by_score = lambda c: (-c["score"], -c["mean"])  # noqa: E731  (ties: the mean over the whole group)
        return sorted(judged, key=by_score) + sorted(proxied, key=by_score)

    def generate(self, profile: Profile, participants: Sequence[int], *, size_target: int | None = None,
                 word_budget: int | None = None, seed: int = 0) -> list[Candidate]:
        rows = np.asarray(participants, dtype=int)
        if len(rows) == 0:
            return []
        r = len(rows) if size_target is None else max(1, min(int(size_target), len(rows)))
        ranked = self._ranked(profile, rows, r, word_budget)
        if not ranked:
            return []
        pool = ranked[: 4 * self.max_candidates]  # dedup only among the top
        keep = dedup(self.embed([c["text"] for c in pool]), self.dedup)[: self.max_candidates]
        out = []
        for rank, a in enumerate(keep, 1):
            c = pool[a]
            prov = {"source": "statement" if c["statement_id"] else "sentence", "score": c["score"],
                    "score_kind": c["score_kind"], "rank": rank, "size_target": r, "participants": rows.tolist(),
                    "word_budget": word_budget}
            if "author" in c:
                prov["author"] = c["author"]
            if self.predictor is not None:
                prov["predictor"] = getattr(self.predictor, "name", type(self.predictor).__name__)
            out.append(Candidate(c["text"], self.name, statement_id=c["statement_id"], provenance=prov))
        return out
