"""How right are predicted utilities? Held-out protocols over a profile's own observed judgments.

* ``statement-held-out`` (:func:`statement_held_out`): each statement's judgments are hidden in turn
  from everyone; the backend predicts them from participants' texts and their judgments of *other*
  statements only — the situation of a newly generated statement (Fish et al., arXiv 2309.01291,
  §5.1 validate the discriminative query this way). Scored by MAE, RMSE, exact and within-1 after
  rounding to the data's scale, and Spearman's ρ, against two baselines: the participant's mean of
  their other judgments, and the global mean of the visible judgments.
* ``vote-held-out`` (:func:`vote_held_out`): for agree/disagree/pass votes, a seeded share of the
  agree and disagree votes is hidden (passes stay visible as training signal); scored by the accuracy
  of the predicted sign (utility above or below the midpoint 2, i.e. a vote above 0) and by ROC AUC,
  against the per-comment, per-participant and global majority votes.

Both score a stated *sample* of held-out judgments on large data (``sample``, default
:data:`DEFAULT_SAMPLE`), not the whole profile: ``vote-held-out`` hides at most that many votes;
``statement-held-out`` hides at most :data:`SAMPLE_FOLDS` seeded statements from everyone and scores
a seeded share of each one's judgments. Smaller data are scored in full, as before. ``info["ci95"]``
holds 95 % confidence intervals: Wilson's for sign accuracy, the normal approximation for MAE (the
sample's judgments treated as independent draws).

Pure: no files, no printing. Predictions are reported in the data's own scale and ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from pnyx.data import MAX_UTILITY, Profile, to_data_scale
from pnyx.scale import MIDPOINT  # the utility of a pass: a prediction above it predicts "agree"
from pnyx.queries.base import DiscriminativeBackend, participant_means
from pnyx.queries.cf import holdout_mask

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each held-out fold."""

DEFAULT_SAMPLE = 5_000
"""Held-out judgments scored at most (the 95 % interval of an accuracy near 85 % is then ±1 point)."""
SAMPLE_FOLDS = 10
"""Statements hidden in turn at most, when statement-held-out samples."""
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> list[float]:
    """Wilson's score interval for a binomial proportion (Wilson, JASA 1927)."""
    if n == 0:
        return [float("nan"), float("nan")]
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [float(centre - half), float(centre + half)]


def mean_interval(values: np.ndarray, z: float = Z95) -> list[float]:
    """Mean ± z·sd/√n."""
    values = np.asarray(values, float)
    if values.size < 2:
        return [float("nan"), float("nan")]
    half = z * values.std(ddof=1) / np.sqrt(values.size)
    return [float(values.mean() - half), float(values.mean() + half)]


@dataclass
class AccuracyReport:
    """Scores of a backend's held-out predictions, and of the baselines on the same entries."""

    protocol: str
    backend: str
    """Provenance label of the predictions, e.g. ``cf:biased-mf`` or ``hybrid:cf+text``."""
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    predictions: list[dict[str, Any]]
    """``{"participant", "statement", "predicted"}`` per held-out entry, in the data's ids and scale."""
    info: dict[str, Any] = field(default_factory=dict)


def rating_metrics(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, share exact and within 1 after rounding the prediction, Spearman's ρ, n (same scale in and out)."""
    true, predicted = np.asarray(true, float), np.asarray(predicted, float)
    err = predicted - true
    rounded = np.abs(np.round(predicted) - true)
    rho = spearmanr(true, predicted).statistic if np.ptp(predicted) > 0 and np.ptp(true) > 0 else np.nan
    return {
        "n": int(len(true)),
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "exact": float(np.mean(rounded == 0)),
        "within_1": float(np.mean(rounded <= 1)),
        "spearman": float(rho),
    }


def vote_metrics(agree: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Accuracy of ``score > 2`` (utility scale) as a predictor of agree, ROC AUC of ``score``, the mean
    absolute error against the vote's utility (agree 4, disagree 0), n."""
    agree, score = np.asarray(agree, bool), np.asarray(score, float)
    both = 0 < agree.sum() < len(agree)
    return {
        "n": int(len(agree)),
        "accuracy": float(np.mean((score > MIDPOINT) == agree)),
        "auc": float(roc_auc_score(agree, score)) if both else float("nan"),
        "mae": float(np.mean(np.abs(score - MAX_UTILITY * agree))),
    }


def _predictions(profile: Profile, rows: np.ndarray, cols: np.ndarray, utilities: np.ndarray) -> list[dict[str, Any]]:
    values = to_data_scale(utilities, profile.scale)
    pids, sids = profile.participant_ids, profile.statement_ids
    return [{"participant": pids[i], "statement": sids[j], "predicted": float(v)} for i, j, v in zip(rows, cols, values)]


def statement_held_out(profile: Profile, backend: DiscriminativeBackend, *, sample: int | None = DEFAULT_SAMPLE,
                       seed: int = 0, progress: Progress | None = None) -> AccuracyReport:
    """Hide each statement's judgments in turn and predict them (see the module docstring).

    With more than ``sample`` observed judgments (None: never), only :data:`SAMPLE_FOLDS` seeded
    statements are hidden and about ``sample`` of their judgments, seeded, are scored."""
    columns = np.flatnonzero(profile.observed.any(axis=0))
    total = int(np.count_nonzero(profile.observed))
    rng = np.random.default_rng(seed)
    per_fold = None
    if sample is not None and total > sample:
        columns = np.sort(rng.permutation(columns)[:SAMPLE_FOLDS])
        per_fold = int(np.ceil(sample / len(columns)))
    rows_all, cols_all, pred_all, part_mean, glob_mean = [], [], [], [], []
    label = ""
    for done, j in enumerate(columns, 1):
        hide = np.zeros_like(profile.observed)
        hide[:, j] = profile.observed[:, j]
        visible = profile.hide(hide)
        rows = np.flatnonzero(hide[:, j])
        if per_fold is not None and rows.size > per_fold:
            rows = np.sort(rng.choice(rows, per_fold, replace=False))
        prediction = backend.predict(visible, rows, [j])
        label = prediction.label
        rows_all.append(rows)
        cols_all.append(np.full(len(rows), j))
        pred_all.append(prediction.utilities[:, 0])
        part_mean.append(participant_means(visible)[rows])
        glob_mean.append(np.full(len(rows), visible.utilities[visible.observed].mean()))
        if progress:
            progress(done, len(columns))
    rows, cols = np.concatenate(rows_all), np.concatenate(cols_all)
    to_scale = lambda u: to_data_scale(np.concatenate(u), profile.scale)  # noqa: E731
    true = to_data_scale(profile.utilities[rows, cols], profile.scale).astype(float)
    predicted = np.concatenate(pred_all).astype(float)
    scaled = to_data_scale(predicted, profile.scale)
    return AccuracyReport(
        protocol="statement-held-out",
        backend=label,
        metrics=rating_metrics(true, scaled),
        baselines={
            "participant mean": rating_metrics(true, to_scale(part_mean)),
            "global mean": rating_metrics(true, to_scale(glob_mean)),
        },
        predictions=_predictions(profile, rows, cols, predicted),
        info={"statements": len(columns), "held_out": int(rows.size), "observed": total,
              "sample": None if per_fold is None else sample, "seed": seed,
              "ci95": {"mae": mean_interval(np.abs(scaled - true))}},
    )


def vote_holdout(profile: Profile, frac: float = 0.1, seed: int = 0, *,
                 sample: int | None = DEFAULT_SAMPLE) -> np.ndarray:
    """The agree/disagree votes :func:`vote_held_out` hides (same arguments), as an n × m mask: a seeded
    ``frac`` of them, but at most ``sample`` (None: no limit)."""
    signed, _, _, rate = _signed(profile, frac, sample)
    return holdout_mask(signed, rate, seed)


def _signed(profile: Profile, frac: float, sample: int | None) -> tuple[np.ndarray, int, bool, float]:
    """The agree/disagree votes, their number, whether ``frac`` of them exceeds ``sample``, and the share
    of them to hide."""
    if profile.scale != "vote":
        raise ValueError(f"vote-held-out needs agree/disagree votes; this profile holds {profile.scale}s")
    signed = profile.observed & (profile.utilities != MIDPOINT)
    count = int(np.count_nonzero(signed))
    sampled = sample is not None and max(1, int(round(frac * count))) > sample
    return signed, count, sampled, sample / count if sampled else frac


def vote_held_out(
    profile: Profile, backend: DiscriminativeBackend, frac: float = 0.1, seed: int = 0, *,
    sample: int | None = DEFAULT_SAMPLE, progress: Progress | None = None, hide: np.ndarray | None = None
) -> AccuracyReport:
    """Hide a seeded ``frac`` of the agree/disagree votes, but at most ``sample`` of them (None: no
    limit), predict them, score the sign (see the module docstring). ``hide``: the mask
    :func:`vote_holdout` gives for these arguments, if already made (e.g. to fit ``backend`` without those
    votes once, :meth:`pnyx.queries.cf.CollaborativeFiltering.fitted`)."""
    signed, count, sampled, rate = _signed(profile, frac, sample)
    if hide is None:
        hide = holdout_mask(signed, rate, seed)
    visible = profile.hide(hide)
    rows, cols = np.nonzero(hide)
    urows, ucols, at = _grid(rows, cols)
    prediction = backend.predict(visible, urows, ucols)
    predicted = prediction.utilities[at]
    if progress:
        progress(1, 1)
    agree = profile.utilities[rows, cols] > MIDPOINT
    metrics = vote_metrics(agree, predicted)
    return AccuracyReport(
        protocol="vote-held-out",
        backend=prediction.label,
        metrics=metrics,
        baselines={name: vote_metrics(agree, score) for name, score in _majorities(visible, rows, cols).items()},
        predictions=_predictions(profile, rows, cols, predicted),
        info={"frac": frac, "seed": seed, "hidden": int(rows.size), "signed_votes": count,
              "sample": sample if sampled else None,
              "ci95": {"accuracy": wilson_interval(int(round(metrics["accuracy"] * rows.size)), int(rows.size))}},
    )


def _grid(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The distinct rows and columns to ask a backend for, and where each (row, col) pair sits in its answer."""
    urows, ri = np.unique(rows, return_inverse=True)
    ucols, ci = np.unique(cols, return_inverse=True)
    return urows, ucols, (ri, ci)


def _majorities(profile: Profile, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
    """Agree rates among visible agree/disagree votes per comment, per participant and overall, as
    utilities, at the entries (rows, cols).

    A rate r becomes the score 4r + ε: above the midpoint 2 exactly when at least half agree (a tie predicts
    agree), and its order gives the AUC.
    """
    agree = profile.observed & (profile.utilities > MIDPOINT)
    signed = profile.observed & (profile.utilities != MIDPOINT)
    glob = agree.sum() / max(signed.sum(), 1.0)

    def rate(axis: int) -> np.ndarray:
        a, s = agree.sum(axis=axis), signed.sum(axis=axis)
        return MAX_UTILITY * np.where(s > 0, a / np.maximum(s, 1.0), glob) + 1e-9

    return {"comment majority": rate(0)[cols], "participant majority": rate(1)[rows],
            "global majority": np.full(rows.size, MAX_UTILITY * glob + 1e-9)}


def predict_pairs(profile: Profile, backend: DiscriminativeBackend, pairs: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Predictions for (participant index, statement index) pairs, in the data's ids and scale, with provenance."""
    pairs = np.asarray(pairs, dtype=int).reshape(-1, 2)
    rows, cols = pairs[:, 0], pairs[:, 1]
    urows, ucols, at = _grid(rows, cols)
    prediction = backend.predict(profile, urows, ucols)
    out = _predictions(profile, rows, cols, prediction.utilities[at])
    slope = float(to_data_scale(1.0, profile.scale) - to_data_scale(0.0, profile.scale))
    sd = np.full(len(rows), np.nan) if prediction.uncertainty is None else slope * prediction.uncertainty[at]
    for rec, s in zip(out, sd):
        rec["backend"] = prediction.label
        if np.isfinite(s):
            rec["uncertainty"] = float(s)
    return out
