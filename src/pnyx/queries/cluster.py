"""``cluster``: cluster the group's participants, then write one statement per cluster.

Participants are clustered by the embedding of their free text (k-means, seeded; k = group size /
``size_target``, so a cluster is about one coalition of the size a round looks for). Participants
without any text are clustered by their observed utilities instead (unknown entries at the
statement's mean), which is what a Polis opinion map does.

Each cluster is handed to ``summariser`` (any generative backend, e.g. ``llm``) for a statement. The
offline default is extractive: the *medoid sentence*, the sentence of the members' answers closest to
the cluster's mean embedding; without texts, the data statement with the highest support in the
cluster (:class:`~pnyx.queries.extractive.ExtractiveGenerator`). Provenance names which one was used.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.cluster import KMeans

from pnyx.data import Profile
from pnyx.scale import MIDPOINT
from pnyx.queries import register_generative
from pnyx.queries.base import Candidate, GenerativeBackend
from pnyx.queries.extractive import ExtractiveGenerator, column_means, sentences


@register_generative("cluster")
class ClusterGenerator(GenerativeBackend):
    """k-means clusters of the group, one statement per cluster (see the module docstring)."""

    name = "cluster"

    def __init__(self, *, summariser: GenerativeBackend | None = None, max_clusters: int = 8, min_words: int = 5,
                 embed=None, seed: int = 0, cache: Any = None, executor: Any = None):
        self.seed = seed
        self.summariser, self.max_clusters, self.min_words, self._embed = summariser, max_clusters, min_words, embed

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._embed is None:
            from pnyx.queries.embed import embed

            self._embed = embed
        return self._embed(texts)

    def _points(self, profile: Profile, rows: np.ndarray) -> tuple[np.ndarray, str]:
        texts = [profile.participants[i].text() for i in rows]
        if all(t.strip() for t in texts):
            return self.embed(texts), "text embeddings"
        if not profile.observed[rows].any():
            raise ValueError("cluster: the participants have neither texts nor judgments to cluster by")
        U = np.where(profile.observed, profile.utilities, np.nan)
        col = column_means(U, empty=MIDPOINT)
        return np.where(np.isnan(U), col, U)[rows], "observed utilities"

    def _medoid_sentence(self, profile: Profile, members: np.ndarray, centre: np.ndarray,
                         word_budget: int | None) -> tuple[str, int] | None:
        found = [(t, i) for t, i in sentences(profile, members, min_words=self.min_words)
                 if word_budget is None or len(t.split()) <= word_budget]
        if not found:
            return None
        best = int(np.argmax(self.embed([t for t, _ in found]) @ centre))
        return found[best]

    def generate(self, profile: Profile, participants: Sequence[int], *, size_target: int | None = None,
                 word_budget: int | None = None, seed: int = 0) -> list[Candidate]:
        rows = np.asarray(participants, dtype=int)
        if len(rows) == 0:
            return []
        points, basis = self._points(profile, rows)
        k = self.max_clusters if size_target is None else round(len(rows) / max(int(size_target), 1))
        k = int(max(1, min(k, self.max_clusters, len(np.unique(points, axis=0)))))
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(points)
        out = []
        for c in range(k):
            members = rows[labels == c]
            prov = {"cluster": c, "clusters": k, "clustered_by": basis, "participants": members.tolist(), "seed": seed}
            if self.summariser is not None:
                got = self.summariser.generate(profile, members, size_target=None, word_budget=word_budget, seed=seed)
                summariser = getattr(self.summariser, "name", type(self.summariser).__name__)
            elif basis == "text embeddings":
                centre = points[labels == c].mean(axis=0)
                found = self._medoid_sentence(profile, members, centre / np.linalg.norm(centre), word_budget)
                got = [] if found is None else [Candidate(found[0], self.name, provenance={
                    "author": profile.participants[found[1]].id})]
                summariser = "medoid sentence (offline default)"
            else:
                got = ExtractiveGenerator(source="statements", max_candidates=1, embed=self._embed).generate(
                    profile, members, word_budget=word_budget, seed=seed)
                summariser = "best-supported statement (offline default, no texts)"
            for cand in got[:1]:
                out.append(Candidate(cand.text, self.name, statement_id=cand.statement_id,
                                     provenance={**prov, "summariser": summariser, "summary": cand.provenance}))
        return out
