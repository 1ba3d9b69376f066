"""Hybrid: stack several discriminative backends with weights fit on the observed judgments.

Stacked generalisation (Wolpert, "Stacked generalization", Neural Networks 1992; Breiman, "Stacked
regressions", Machine Learning 1996): each member backend predicts observed judgments that were hidden
from it (K folds). The folds mirror what is asked: statements that nobody has judged yet (a new
statement) are predicted with weights fit on folds of *whole statements* hidden from everyone; other
entries with weights fit on folds of random entries. Held-out entries are never used.

Three kinds of combination are candidates, all convex (non-negative weights summing to one, so no
level shift and no extrapolation):

* the simple average of the members — the default;
* each member alone;
* the stack: least squares on the out-of-fold predictions and the participant's mean utility, on the
  simplex (Breiman's non-negativity plus sum-to-one). Unconstrained weights fit an artefact of statement
  folds: the mean of the visible judgments is high exactly when the hidden statement is rated low.

Estimated weights often lose to equal weights out of sample (the "forecast combination puzzle": Smith &
Wallis, "A simple explanation of the forecast combination puzzle", Oxford Bull. Econ. Stat. 2009), and
here the out-of-fold predictions are made with one fold fewer than the final ones, which penalises the
members that learn most from more statements (``text`` on six statements: 4 visible instead of 5).
So the choice is validated one level down, on the out-of-fold predictions alone (never on the data
being predicted): leave one fold out, fit each candidate on the others, score squared error on it. A
candidate replaces the average only if it is *reliably* better: a one-sided paired t-test over the
folds, Bonferroni-corrected for the number of candidates, at level :data:`ALPHA`; among those, the
lowest validated error wins. The chosen weights are then refit on all folds. With fewer than two judged
statements (for new statements) or judgments (for the others) no fold can be hidden with anything left
to learn from, and the prediction is the participant's mean, recorded as such in ``info``.

``offline`` is the hybrid over the backends that need no network (``cf``, and ``text`` when it is
installed).
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.stats import ttest_rel

from pnyx.data import MAX_UTILITY, Profile
from pnyx.queries import DISCRIMINATIVE, get_discriminative, load_builtins, register_discriminative
from pnyx.queries.base import DiscriminativeBackend, Prediction, participant_means, require_judgments

OFFLINE_MEMBERS = ("cf", "text")
"""The no-network backends that ``offline`` combines, those installed."""
ALPHA = 0.05
"""Family-wise level at which a candidate must beat the simple average to replace it."""


def simplex_least_squares(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin ‖Xw − y‖² over w ≥ 0, Σw = 1 (SLSQP from the uniform weights)."""
    k = X.shape[1]
    res = minimize(lambda w: np.mean((X @ w - y) ** 2), np.full(k, 1.0 / k), method="SLSQP",
                   jac=lambda w: 2.0 * X.T @ (X @ w - y) / len(y), bounds=[(0.0, 1.0)] * k,
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(k)}])
    w = np.clip(res.x, 0.0, None)
    return w / w.sum()


def choose_weights(X: np.ndarray, y: np.ndarray, fold: np.ndarray, members: Sequence[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """Convex weights over the columns of ``X`` (the ``members``' predictions, then the participant mean).

    ``fold[e]`` is the fold in which the out-of-fold prediction ``X[e]`` was made. The simple average, each
    member alone or the stack, chosen by leaving one fold out at a time (see the module docstring).
    """
    k = X.shape[1]
    one_hot = np.eye(k)
    candidates = {"average": lambda X_, y_: one_hot[: len(members)].mean(axis=0),
                  **{name: (lambda X_, y_, a=a: one_hot[a]) for a, name in enumerate(members)},
                  "stack": simplex_least_squares}
    folds = np.unique(fold)

    def validated(fit) -> np.ndarray:
        """Squared error on each fold of the weights fit on the other folds."""
        return np.array([np.mean((np.clip(X[fold == f] @ fit(X[fold != f], y[fold != f]), 0, MAX_UTILITY) - y[fold == f]) ** 2)
                         for f in folds])

    loss = {name: validated(fit) for name, fit in candidates.items()}
    rivals = [name for name in candidates if name != "average"]
    with warnings.catch_warnings():  # nearly equal losses: scipy warns of precision loss, and the p-value is ~1
        warnings.simplefilter("ignore", RuntimeWarning)
        p = {name: float(np.nan_to_num(ttest_rel(loss[name], loss["average"], alternative="less").pvalue, nan=1.0))
             if len(folds) > 1 else 1.0 for name in rivals}
    reliable = [name for name in rivals if p[name] < ALPHA / len(rivals)]
    choice = min(reliable, key=lambda name: loss[name].mean()) if reliable else "average"
    w = candidates[choice](X, y)
    return w, {"choice": choice, "weights": w.tolist(), "validated_mse": {n: float(v.mean()) for n, v in loss.items()},
               "p_value": p}


@register_discriminative("hybrid")
class Hybrid(DiscriminativeBackend):
    """Stacked combination of member backends (see the module docstring)."""

    name = "hybrid"
    needs_judgments = True

    def __init__(self, backends: Sequence[str | DiscriminativeBackend] | None = None, *, folds: int = 5, seed: int = 0,
                 cache: Any = None, executor: Any = None, config: dict[str, dict[str, Any]] | None = None):
        """``backends``: names or instances (default: the installed no-network ones); ``config``: name → settings;
        ``seed``, ``cache`` and ``executor`` go to every member built by name."""
        config = config or {}
        backends = installed_offline() if backends is None else backends
        settings = {"seed": seed, "cache": cache, "executor": executor}
        self.members = [get_discriminative(b, settings, **config.get(b, {})) if isinstance(b, str) else b
                        for b in backends]
        if not self.members:
            raise ValueError("a hybrid needs at least one member backend")
        self.folds, self.seed = folds, seed
        self.model = "+".join(m.name for m in self.members)

    def _features(self, profile: Profile, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(len(rows), len(cols), members + 1): each member's prediction, then the participant mean."""
        pmean = participant_means(profile)[rows][:, None]
        feats = []
        for member in self.members:
            u = member.predict(profile, rows, cols).utilities
            feats.append(np.where(np.isfinite(u), u, pmean))  # a member with no opinion says "as usual"
        feats.append(np.broadcast_to(pmean, (len(rows), len(cols))))
        return np.stack(feats, axis=-1)

    def _out_of_fold(self, profile: Profile, cold: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features and targets of observed judgments, each predicted with its fold hidden; and the fold of each."""
        rng = np.random.default_rng(self.seed)
        obs = profile.observed
        if cold:  # folds of whole statements
            cols = rng.permutation(np.flatnonzero(obs.any(axis=0)))
            parts = np.array_split(cols, min(self.folds, len(cols)))
            groups = [np.isin(np.arange(profile.m), part)[None, :] & obs for part in parts]
        else:  # folds of random entries
            flat = rng.permutation(np.flatnonzero(obs))
            groups = [np.isin(np.arange(obs.size), part).reshape(obs.shape) for part in np.array_split(flat, min(self.folds, len(flat)))]
        X, y, fold = [], [], []
        for f, hide in enumerate(groups):
            rows, cols = np.flatnonzero(hide.any(axis=1)), np.flatnonzero(hide.any(axis=0))
            feats = self._features(profile.hide(hide), rows, cols)
            sel = hide[np.ix_(rows, cols)]
            X.append(feats[sel])
            y.append(profile.utilities[np.ix_(rows, cols)][sel])
            fold.append(np.full(int(sel.sum()), f))
        return np.concatenate(X), np.concatenate(y), np.concatenate(fold)

    def predict(self, profile: Profile, participants: Sequence[int] | None = None,
                statements: Sequence[int] | None = None) -> Prediction:
        rows = np.arange(profile.n) if participants is None else np.asarray(participants, dtype=int)
        cols = np.arange(profile.m) if statements is None else np.asarray(statements, dtype=int)
        require_judgments(profile, self.name)
        utilities = np.empty((len(rows), len(cols)))
        sd = np.empty_like(utilities)
        cold_cols = ~profile.observed[:, cols].any(axis=0)
        info: dict[str, Any] = {"features": [m.name for m in self.members] + ["participant mean"]}
        for cold in (True, False):
            sel = cold_cols if cold else ~cold_cols
            if not sel.any():
                continue
            key = "new statements" if cold else "known statements"
            units = np.count_nonzero(profile.observed.any(axis=0)) if cold else np.count_nonzero(profile.observed)
            if units < 2:  # no fold can be hidden with something left to learn from: the participant mean
                means = participant_means(profile)
                utilities[:, sel] = means[rows, None]
                rmse = float(np.sqrt(np.mean((profile.utilities - means[:, None])[profile.observed] ** 2)))
                sd[:, sel] = rmse
                info[key] = {"weights": "participant mean only: fewer than two judged "
                                        + ("statements" if cold else "judgments") + " to fit weights on",
                             "in_sample_rmse": rmse, "n_fit": 0}
                continue
            X, y, fold = self._out_of_fold(profile, cold)
            w, fit = choose_weights(X, y, fold, [m.name for m in self.members])
            rmse = float(np.sqrt(np.mean((np.clip(X @ w, 0, MAX_UTILITY) - y) ** 2)))
            utilities[:, sel] = self._features(profile, rows, cols[sel]) @ w
            sd[:, sel] = rmse
            info[key] = {**fit, "oof_rmse": rmse, "n_fit": len(y)}
        return Prediction(np.clip(utilities, 0.0, MAX_UTILITY), rows, cols, self.name, self.model, uncertainty=sd, info=info)


def installed_offline() -> list[str]:
    """The no-network backends installed, of :data:`OFFLINE_MEMBERS`."""
    load_builtins()
    return [name for name in OFFLINE_MEMBERS if name in DISCRIMINATIVE]


@register_discriminative("offline")
class Offline(DiscriminativeBackend):
    """The best predictor that needs no network, by what the data holds.

    With observed judgments: the hybrid over the installed no-network backends (``cf`` itself when it
    is the only one: there is nothing to combine). With none (free text only):
    :class:`~pnyx.queries.similarity.Similarity`, how close each statement is to what the participant
    wrote.
    """

    name = "offline"

    def __init__(self, *, seed: int = 0, cache: Any = None, executor: Any = None, **config: Any):
        members = installed_offline()
        settings = {"seed": seed, "cache": cache, "executor": executor}
        self.judged = (Hybrid(members, seed=seed, cache=cache, executor=executor, **config) if len(members) > 1
                       else get_discriminative(members[0], settings, **config))
        self.settings = settings
        self.model = self.judged.model

    def chosen(self, profile: Profile) -> DiscriminativeBackend:
        """The member that predicts for ``profile``."""
        if profile.observed.any():
            return self.judged
        return get_discriminative("similarity", self.settings)

    def predict(self, profile: Profile, participants: Sequence[int] | None = None,
                statements: Sequence[int] | None = None) -> Prediction:
        return self.chosen(profile).predict(profile, participants, statements)
