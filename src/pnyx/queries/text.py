"""``text``: predict a participant's utility for a statement nobody has judged yet, offline.

Every statement is treated as new: the features of a pair (i, j) never use column j's judgments, only
participant i's judgments (and explanations) of the *other* statements, the participants' free text
and the statements' text, embedded with all-MiniLM-L6-v2 (:mod:`pnyx.queries.embed`):

* ``offset``: how much i's observed utilities exceed the statements' means, shrunk towards 0 by one
  pseudo-count (participant bias, as in a baseline predictor; Koren, "Factorization meets the
  neighborhood", KDD 2008).
* ``neighbours``: the same offsets averaged with weights ``exp(cos(s_j, s_k) / τ)`` over the statements
  k that i judged (item-based neighbourhood with text similarity in place of rating correlation).
* ``answers``: cosine between i's free text and s_j (both centred on their corpus mean, so the shared
  topic of a consultation cancels out).
* ``explanations``: i's explanations of other judgments, each signed by that judgment's offset,
  compared with s_j (an explanation says why a statement was liked or disliked).

A linear model of the utility minus i's mean over the other statements is fit on the observed
judgments with each statement held out in turn (the features of a training pair are computed without
its own column), so the model learns how features of a *new* statement relate to its ratings. Least
absolute deviation (median regression, HiGHS) because the target metric is MAE; its L1 penalty is
chosen on folds of whole statements (nested inside the fit, so a held-out statement is never seen).
With the largest penalty every feature drops out and the prediction is the participant mean plus a
shift. Default features: ``offset`` and ``neighbours`` (see :data:`DEFAULT_FEATURES`). A feature source
that the profile lacks (no texts, no explanations, fewer than two judged statements) is left out and named
in ``Prediction.info["missing"]``; with nothing to fit, the prediction is the participant mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from sklearn.linear_model import QuantileRegressor

from pnyx.blocks import blocks
from pnyx.data import MAX_UTILITY, Profile
from pnyx.queries import register_discriminative
from pnyx.queries.base import DiscriminativeBackend, Prediction, participant_means, require_judgments
from pnyx.scale import MIDPOINT

FEATURES = ("offset", "neighbours", "answers", "explanations")
DEFAULT_FEATURES = ("offset", "neighbours")
"""On the chatbot data ``answers`` and ``explanations`` added nothing (benchmarks/README.md) and cost
embedding every participant's text; ask for them with ``features=FEATURES``."""
ALPHAS = (0.0, 0.01, 0.1)
"""L1 penalties tried (features standardised); the largest leaves only the intercept: participant mean + a shift."""


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _centred(v: np.ndarray) -> np.ndarray:
    return _unit(v - v.mean(axis=0)) if len(v) > 1 else _unit(v)


class _Texts:
    """Centred unit embeddings of the profile's statements, participant texts and explanations."""

    def __init__(self, profile: Profile, features: Sequence[str], embed):
        self.S = _centred(embed([s.text for s in profile.statements]))
        texts = [p.text() for p in profile.participants]
        has = np.array([bool(t.strip()) for t in texts])
        self.T = None
        if "answers" in features and has.sum() > 1:
            T = np.zeros((profile.n, self.S.shape[1]))
            T[has] = _centred(embed([t for t, h in zip(texts, has) if h]))
            self.T = T
        self.X = None
        if "explanations" in features and profile.explanations:
            keys = list(profile.explanations)
            X = np.zeros(profile.utilities.shape + (self.S.shape[1],))
            X[tuple(np.array(keys).T)] = _centred(embed([profile.explanations[k] for k in keys]))
            self.X = X


@dataclass(frozen=True)
class _Sums:
    """Each participant's and each statement's total and count of observed utilities, summed once per prediction."""

    total: np.ndarray
    count: np.ndarray
    col_total: np.ndarray
    col_count: np.ndarray

    @classmethod
    def of(cls, profile: Profile) -> "_Sums":
        obs = profile.observed
        known = np.where(obs, profile.utilities, 0.0)
        return cls(known.sum(axis=1), obs.sum(axis=1), known.sum(axis=0), obs.sum(axis=0))

    @property
    def col_mean(self) -> np.ndarray:
        """Each statement's mean observed utility (0 for one nobody judged)."""
        return self.col_total / np.maximum(self.col_count, 1)

    def means_without(self, profile: Profile, rows: np.ndarray, cols: np.ndarray, every: bool = False) -> np.ndarray:
        """:func:`~pnyx.queries.base.participant_means` over the statements other than j, for the pairs
        (rows[t], cols[t]), or (``every``) for every pair of ``rows`` × ``cols``."""
        rows_, cols_ = (rows[:, None], cols[None, :]) if every else (rows, cols)
        own = profile.observed[rows_, cols_]
        t = self.total[rows_] - np.where(own, profile.utilities[rows_, cols_], 0.0)
        c = self.count[rows_] - own
        rest_count = self.count.sum() - self.col_count[cols_]
        glob = np.where(rest_count > 0, (self.total.sum() - self.col_total[cols_]) / np.maximum(rest_count, 1), MIDPOINT)
        return np.where(c > 0, t / np.maximum(c, 1), glob)


@register_discriminative("text")
class TextBackend(DiscriminativeBackend):
    """Text-based predictor for new statements (see the module docstring)."""

    name = "text"
    needs_judgments = True

    def __init__(self, *, features: Sequence[str] = DEFAULT_FEATURES, tau: float = 0.1,
                 alphas: Sequence[float] = ALPHAS, folds: int = 5, max_fit: int = 1000, seed: int = 0, embed=None,
                 cache: Any = None, executor: Any = None):
        """``features``: which of :data:`FEATURES` to use; ``tau``: temperature of the neighbour weights;
        ``alphas``: L1 penalties of the median regression to choose from, by ``folds`` folds of whole
        statements; ``max_fit``: training pairs beyond this are subsampled (seeded); ``embed``: texts →
        unit vectors (default all-MiniLM-L6-v2)."""
        unknown = set(features) - set(FEATURES)
        if unknown or not features:
            raise ValueError(f"unknown text features {sorted(unknown)}; known: {', '.join(FEATURES)}")
        self.features, self.tau, self.alphas = tuple(features), tau, tuple(alphas)
        self.folds, self.max_fit, self.seed = folds, max_fit, seed
        if embed is None:
            from pnyx.queries.embed import embed
        self.embed = embed
        self.model = "+".join(self.features)

    def _features(self, profile: Profile, texts: _Texts | None, sums: _Sums, rows: np.ndarray,
                  cols: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Features of every pair (i, j), i in ``rows``, j in ``cols``, each from the observed columns other than
        j: an array (rows, cols, features), and the features' names; ``sums``: the profile's observed sums. Column j's own judgments are taken out of sums over all columns, so no column is recomputed per
        pair (and column j's mean is never used)."""
        o = profile.observed[rows]
        dev = np.where(o, profile.utilities[rows] - sums.col_mean, 0.0)  # i's offsets from each statement's mean
        own_o, own_dev = o[:, cols], dev[:, cols]
        feats, names = [], []
        if "offset" in self.features:
            feats.append((dev.sum(axis=1)[:, None] - own_dev) / (o.sum(axis=1)[:, None] - own_o + 1.0))
            names.append("offset")
        if texts is not None:
            if "neighbours" in self.features:
                E = np.exp((texts.S @ texts.S[cols].T - 1.0) / self.tau)  # (m, cols): weight of k for j
                own = E[cols, np.arange(cols.size)]
                weight = o @ E - own_o * own + np.exp(-1.0 / self.tau)
                feats.append((dev @ E - own_dev * own) / weight)
                names.append("neighbours")
            if texts.T is not None:
                feats.append(texts.T[rows] @ texts.S[cols].T)
                names.append("answers")
            if texts.X is not None:
                signed = np.sign(dev)
                expl = np.empty((rows.size, cols.size))
                for b, j in enumerate(cols.tolist()):
                    e = texts.X[rows] @ texts.S[j]  # (rows, m), 0 where no explanation
                    has = o & (np.abs(e) > 0)
                    has[:, j] = False
                    expl[:, b] = (e * signed * has).sum(axis=1) / (has.sum(axis=1) + 1.0)
                feats.append(expl)
                names.append("explanations")
        F = np.stack(feats, axis=-1) if feats else np.zeros((rows.size, cols.size, 0))
        return F, names

    def _pair_rows(self, profile: Profile, texts: _Texts | None, sums: _Sums, rows: np.ndarray,
                   cols: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Features of the pairs (rows[t], cols[t]), sorted by column, one row each: per column, its block of rows."""
        per_column = [self._features(profile, texts, sums, rows[cols == j], np.array([j])) for j in np.unique(cols)]
        return np.concatenate([F[:, 0] for F, _ in per_column]), per_column[0][1]

    def _select_alpha(self, X: np.ndarray, y: np.ndarray, group: np.ndarray, rng) -> tuple[float, dict[float, float]]:
        """The penalty with the least MAE on folds of whole held-out statements (nested: never sees the target)."""
        statements = rng.permutation(np.unique(group))
        parts = np.array_split(statements, min(self.folds, len(statements)))
        cv = {}
        for alpha in self.alphas:
            err = 0.0
            for part in parts:
                test = np.isin(group, part)
                reg = QuantileRegressor(quantile=0.5, alpha=alpha, solver="highs").fit(X[~test], y[~test])
                err += np.abs(y[test] - reg.predict(X[test])).sum()
            cv[alpha] = round(float(err) / len(y), 4)
        return min(cv, key=cv.get), cv

    def predict(self, profile: Profile, participants: Sequence[int] | None = None,
                statements: Sequence[int] | None = None) -> Prediction:
        require_judgments(profile, self.name)
        rows = np.arange(profile.n) if participants is None else np.asarray(participants, dtype=int)
        cols = np.arange(profile.m) if statements is None else np.asarray(statements, dtype=int)
        obs = profile.observed
        info: dict[str, Any] = {"missing": []}
        judged = np.flatnonzero(obs.any(axis=0))
        texts = None
        if any(f != "offset" for f in self.features):
            texts = _Texts(profile, self.features, self.embed)
            if texts.T is None and "answers" in self.features:
                info["missing"].append("answers: participants have no free text")
            if texts.X is None and "explanations" in self.features:
                info["missing"].append("explanations: no judgment carries an explanation")
        if len(judged) < 2:
            info["missing"].append("fit: fewer than two judged statements; predicting the participant mean")
            out = np.repeat(participant_means(profile)[rows][:, None], len(cols), axis=1)
            return Prediction(out, rows, cols, self.name, self.model, info=info)

        # Training pairs: each judged statement k held out in turn, features without column k (a seeded
        # subsample of max_fit pairs, in column order).
        rng = np.random.default_rng(self.seed)
        pairs = np.argwhere(obs[:, judged].T)  # (position of k in judged, row), by column then row
        if len(pairs) > self.max_fit:
            pairs = pairs[np.sort(rng.choice(len(pairs), self.max_fit, replace=False))]
        group, r = judged[pairs[:, 0]], pairs[:, 1]
        sums = _Sums.of(profile)
        X, names = self._pair_rows(profile, texts, sums, r, group)
        y = profile.utilities[r, group] - sums.means_without(profile, r, group)
        scale = np.maximum(X.std(axis=0), 1e-9)
        X = X / scale
        alpha, cv = self._select_alpha(X, y, group, rng)
        reg = QuantileRegressor(quantile=0.5, alpha=alpha, solver="highs").fit(X, y)
        resid = y - reg.predict(X)
        info.update(features=names, alpha=alpha, cv_mae=cv,
                    coef=dict(zip(names, (reg.coef_ / scale).round(4).tolist())), intercept=float(reg.intercept_), n_fit=int(len(y)), fit_mae=float(np.mean(np.abs(resid))))

        out = np.empty((len(rows), len(cols)))
        for part in blocks(len(rows), len(cols) * max(len(names), 1)):
            F, _ = self._features(profile, texts, sums, rows[part], cols)
            shift = reg.predict((F / scale).reshape(-1, len(names))).reshape(F.shape[:2])
            out[part] = sums.means_without(profile, rows[part], cols, every=True) + shift
        sd = np.full(out.shape, float(np.sqrt(np.mean(resid**2))))
        return Prediction(np.clip(out, 0.0, MAX_UTILITY), rows, cols, self.name, self.model, uncertainty=sd, info=info)
