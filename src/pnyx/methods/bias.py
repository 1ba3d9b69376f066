"""Predictor bias audit per group (after Röttger et al., "Political Compass or Spinning Arrow?",
arXiv 2402.16786, and Jiang et al., CommunityLM, arXiv 2209.07065).

On observed judgments (truth) and a predictor's utilities for the same entries, per group: the
signed mean error mean(Û − U), the mean absolute error and Spearman's ρ, each with a bootstrap
interval (resampling participants; ρ's resamples keep the group's ranks, a fast approximation),
and the largest gap in signed error between two groups. A
group is flagged when the interval of its signed error minus everyone else's excludes 0
(Bonferroni over the groups). With a slate: the change in each group's mean best-in-slate utility
when predictions replace the truth.
"""

from __future__ import annotations

import warnings

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy.stats import rankdata, spearmanr

from pnyx.data import InputError
from pnyx.methods.base import METHODS


@dataclass
class GroupBias:
    group: str
    participants: int
    judgments: int
    signed_error: float
    signed_error_ci: tuple[float, float]
    mae: float
    mae_ci: tuple[float, float]
    spearman: float
    spearman_ci: tuple[float, float]
    difference: float
    """Signed error of this group minus that of all other groups."""
    difference_ci: tuple[float, float]
    flagged: bool
    """The Bonferroni interval of the signed error excludes 0."""


@dataclass
class BiasAudit:
    groups: list[GroupBias]
    largest_gap: dict[str, Any]
    """The two groups with the most different signed errors, the gap and its interval."""
    level: float
    bootstrap: int
    slate_shift: dict[str, float] = field(default_factory=dict)
    """Group → mean best-in-slate utility under predictions minus under truth."""

    @property
    def flagged(self) -> list[str]:
        return [g.group for g in self.groups if g.flagged]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"groups": [asdict(g) for g in self.groups], "largest_gap": self.largest_gap, "level": self.level,
                "bootstrap": self.bootstrap, "flagged": self.flagged, "slate_shift": self.slate_shift}


def _ci(x: np.ndarray, alpha: float) -> tuple[float, float]:
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(x, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def _rank_bootstrap(T: np.ndarray, P: np.ndarray, sel: np.ndarray, boot: np.ndarray) -> np.ndarray:
    """Pearson correlation of the group's (fixed) ranks over each participant resample."""
    rt, rp = np.zeros(T.shape), np.zeros(P.shape)
    rt[sel], rp[sel] = rankdata(T[sel]), rankdata(P[sel])
    w = sel.astype(float)
    # per participant: Σ1, Σx, Σy, Σx², Σy², Σxy over their judged entries; resample rows, then combine
    sums = np.stack([w.sum(1), (rt * w).sum(1), (rp * w).sum(1), (rt ** 2 * w).sum(1), (rp ** 2 * w).sum(1),
                     (rt * rp * w).sum(1)], axis=1)
    c, x, y, xx, yy, xy = np.moveaxis(sums[boot].sum(axis=1), 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xy - x * y / c) / np.sqrt((xx - x ** 2 / c) * (yy - y ** 2 / c))


@METHODS.register("predictor-bias", input="utilities", cite="arXiv 2402.16786; arXiv 2209.07065")
def bias_audit(truth: np.ndarray, predicted: np.ndarray, groups: Sequence[Any], *, slate: Sequence[int] | None = None,
               bootstrap: int = 500, level: float = 0.95, seed: int = 0, spearman_bootstrap: int = 500) -> BiasAudit:
    """Audit a predictor's errors per group on the entries where ``truth`` is known.

    Parameters
    ----------
    truth, predicted
        n × m; ``truth`` NaN where nothing was observed (those entries are not audited).
    groups
        One label per participant (None: in no group).
    slate
        If given, ``slate_shift``: per group, mean_i max_{j∈slate} of the matrix with predictions in
        place of the observed entries, minus the same with the truth.
    bootstrap
        Participant resamples for the signed error, MAE and differences (``spearman_bootstrap``
        for ρ).

    Raises
    ------
    InputError
        Shapes differ, or fewer than two groups have observed judgments.
    """
    T = np.asarray(truth, dtype=float)
    P = np.asarray(predicted, dtype=float)
    if T.shape != P.shape or T.ndim != 2 or len(groups) != T.shape[0]:
        raise InputError("truth, predicted and groups must agree: n × m, n × m and n labels", field="predicted")
    mask = ~np.isnan(T) & ~np.isnan(P)
    names = list(dict.fromkeys(g for g in groups if g is not None))
    lab = np.array([-1 if g is None else names.index(g) for g in groups])
    err = np.where(mask, P - T, 0.0)
    cnt = mask.sum(axis=1).astype(float)
    s_err, s_abs = err.sum(axis=1), np.abs(err).sum(axis=1)
    rng = np.random.default_rng(seed)
    alpha = 1 - level
    members = [np.flatnonzero((lab == g) & (cnt > 0)) for g in range(len(names))]
    if sum(len(m) > 0 for m in members) < 2:
        raise InputError("the bias audit needs observed judgments in at least two groups", field="groups")
    # one set of participant resamples per group, shared by every statistic
    boot = [rng.integers(0, len(m), size=(bootstrap, len(m))) if len(m) else None for m in members]
    b_err = np.array([s_err[m][b].sum(1) / np.maximum(cnt[m][b].sum(1), 1) if len(m) else np.full(bootstrap, np.nan)
                      for m, b in zip(members, boot)])
    b_abs = np.array([s_abs[m][b].sum(1) / np.maximum(cnt[m][b].sum(1), 1) if len(m) else np.full(bootstrap, np.nan)
                      for m, b in zip(members, boot)])
    b_sum = np.array([s_err[m][b].sum(1) if len(m) else np.zeros(bootstrap) for m, b in zip(members, boot)])
    b_cnt = np.array([cnt[m][b].sum(1) if len(m) else np.zeros(bootstrap) for m, b in zip(members, boot)])
    present = [g for g in range(len(names)) if len(members[g])]
    adj = alpha / len(present)
    out: list[GroupBias] = []
    for g in present:
        m = members[g]
        sel = mask[m]
        t, p = T[m][sel], P[m][sel]
        rest = [q for q in present if q != g]
        others = b_sum[rest].sum(0) / np.maximum(b_cnt[rest].sum(0), 1)
        diff = b_err[g] - others
        rest_rows = np.concatenate([members[q] for q in rest])
        point_diff = s_err[m].sum() / cnt[m].sum() - s_err[rest_rows].sum() / cnt[rest_rows].sum()
        d_ci = _ci(diff, alpha)
        flag_ci = _ci(b_err[g], adj)
        rho = float(spearmanr(t, p).statistic) if t.size > 2 and np.ptp(t) > 0 and np.ptp(p) > 0 else float("nan")
        rhos = _rank_bootstrap(T[m], P[m], sel, boot[g][:spearman_bootstrap]) if np.isfinite(rho) else np.array([])
        out.append(GroupBias(str(names[g]), int(len(m)), int(cnt[m].sum()), float(s_err[m].sum() / cnt[m].sum()),
                             _ci(b_err[g], alpha), float(s_abs[m].sum() / cnt[m].sum()), _ci(b_abs[g], alpha),
                             rho, _ci(np.asarray(rhos, dtype=float), alpha), float(point_diff), d_ci,
                             bool(flag_ci[0] > 0 or flag_ci[1] < 0)))
    errs = {gb.group: gb.signed_error for gb in out}
    hi, lo = max(errs, key=errs.get), min(errs, key=errs.get)
    gi, li = names.index(next(n for n in names if str(n) == hi)), names.index(next(n for n in names if str(n) == lo))
    gap = {"high": hi, "low": lo, "gap": errs[hi] - errs[lo], "ci": _ci(b_err[gi] - b_err[li], alpha)}
    shift: dict[str, float] = {}
    if slate is not None:
        cols = list(slate)
        with_truth = np.where(mask, T, P)[:, cols]
        with warnings.catch_warnings():  # a participant with nothing known on the slate stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            best_pred, best_true = np.nanmax(P[:, cols], axis=1), np.nanmax(with_truth, axis=1)
        shift = {str(names[g]): float((best_pred[lab == g] - best_true[lab == g]).mean()) for g in present}
    return BiasAudit(out, gap, level, bootstrap, shift)


STATISTICS = ("signed_error", "mae", "spearman")


@dataclass
class ParaphraseBias:
    """The bias audit of one predictor asked in several wordings of the same rating prompt."""

    paraphrases: list[int]
    """The wordings, in the order of ``audits`` (indices of :data:`pnyx.queries.prompts.RATING_PARAPHRASES`)."""
    audits: list[BiasAudit]
    groups: list[dict[str, Any]]
    """Per group: each statistic of :data:`STATISTICS` and ``flagged`` per paraphrase, and ``spread``:
    per statistic, max − min over the paraphrases (NaN values left out)."""
    rating_sd: dict[str, float]
    """Mean over the audited entries of the standard deviation of the predicted utility across the
    paraphrases: ``all`` and per group."""
    verdicts: list[dict[str, Any]]
    """Per paraphrase: the ``flagged`` groups, the ``largest_gap`` pair (high, low) and the group of
    ``highest_mae``."""
    stable: dict[str, bool]
    """Per verdict part: the same under every paraphrase."""

    def to_dict(self) -> dict[str, Any]:
        return {"paraphrases": self.paraphrases, "groups": self.groups, "rating_sd": self.rating_sd,
                "verdicts": self.verdicts, "stable": self.stable,
                "ever_flagged": sorted({g for v in self.verdicts for g in v["flagged"]}),
                "audits": [a.to_dict() for a in self.audits]}


@METHODS.register("predictor-bias-paraphrases", input="utilities", cite="arXiv 2402.16786")
def paraphrase_bias(truth: np.ndarray, predictions: Sequence[np.ndarray], groups: Sequence[Any], *,
                    paraphrases: Sequence[int] | None = None, bootstrap: int = 500, level: float = 0.95,
                    seed: int = 0) -> ParaphraseBias:
    """:func:`bias_audit` of the same predictor under each wording of its prompt, and how much the
    errors and the verdict move between wordings — Röttger et al.'s (arXiv 2402.16786) question of
    whether a model's measured position survives paraphrase ("spinning arrow").

    Parameters
    ----------
    truth
        n × m observed utilities, NaN where nothing was observed.
    predictions
        One n × m matrix per paraphrase (NaN where not predicted).
    groups
        One label per participant (None: in no group).
    paraphrases
        The wording of each prediction (default 0, 1, ...).
    bootstrap, level, seed
        As :func:`bias_audit`, the same seed for every paraphrase.

    Returns
    -------
    ParaphraseBias
        Every paraphrase's audit; per group each statistic per paraphrase and its spread (max − min);
        the mean standard deviation of an entry's prediction across wordings; the verdicts (flagged
        groups, largest-gap pair, group of highest MAE) per paraphrase and whether each is ``stable``.

    Raises
    ------
    InputError
        Fewer than two predictions, a shape that differs, or fewer than two groups with judgments.
    """
    if len(predictions) < 2:
        raise InputError("the paraphrase audit needs predictions under at least two wordings", field="predictions")
    ids = list(range(len(predictions))) if paraphrases is None else [int(p) for p in paraphrases]
    if len(ids) != len(predictions):
        raise InputError("one paraphrase id per prediction matrix", field="paraphrases")
    audits = [bias_audit(truth, P, groups, bootstrap=bootstrap, level=level, seed=seed, spearman_bootstrap=bootstrap)
              for P in predictions]
    # a wording whose answers held no rating for a group's entries leaves that group out of its audit
    by_name = [{g.group: g for g in audit.groups} for audit in audits]
    names = list(dict.fromkeys(name for found in by_name for name in found))
    table = []
    for name in names:
        row: dict[str, Any] = {"group": name}
        for stat in STATISTICS:
            row[stat] = [float(getattr(found[name], stat)) if name in found else float("nan") for found in by_name]
        row["flagged"] = [name in found and found[name].flagged for found in by_name]
        row["spread"] = {stat: _spread(row[stat]) for stat in STATISTICS}
        table.append(row)
    T = np.asarray(truth, dtype=float)
    stack = np.stack([np.asarray(P, dtype=float) for P in predictions])
    known = ~np.isnan(T) & ~np.isnan(stack).any(axis=0)
    sd = np.where(known, np.nan_to_num(stack).std(axis=0), np.nan)
    lab = np.array(["" if g is None else str(g) for g in groups])
    rating_sd = {"all": _mean(sd[known])}
    rating_sd |= {name: _mean(sd[(lab == name)[:, None] & known]) for name in names}
    verdicts = [{"flagged": audit.flagged, "largest_gap": [audit.largest_gap["high"], audit.largest_gap["low"]],
                 "highest_mae": max(audit.groups, key=lambda g: g.mae).group} for audit in audits]
    stable = {part: all(v[part] == verdicts[0][part] for v in verdicts) for part in verdicts[0]}
    return ParaphraseBias(ids, audits, table, rating_sd, verdicts, stable)


def _spread(values: Sequence[float]) -> float:
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    return float(x.max() - x.min()) if x.size else float("nan")


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else float("nan")
