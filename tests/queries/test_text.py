"""The ``text`` predictor's features, as the module docstring defines them, pair by pair."""

from __future__ import annotations

import numpy as np
import pytest

from pnyx.data import Participant, Profile, Statement
from pnyx.queries.base import participant_means
from pnyx.queries.text import TextBackend, _Sums, _Texts


def _embed(texts):
    """Deterministic unit vectors per text (a stand-in for the sentence model)."""
    out = np.array([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def profile():
    rng = np.random.default_rng(4)
    n, m = 30, 9
    keep = rng.random((n, m)) < 0.5
    keep[0] = False  # a participant with no judgment
    rows, cols = np.nonzero(keep)
    values = rng.integers(0, 5, rows.size)
    return Profile.from_arrays([Participant(f"p{i}") for i in range(n)],
                               [Statement(f"s{j}", f"statement number {j} about topic {j % 3}") for j in range(m)],
                               rows, cols, values, "rating")


def test_features_of_each_pair_leave_its_own_column_out(profile):
    backend = TextBackend(embed=_embed)
    texts = _Texts(profile, backend.features, _embed)
    obs, U = profile.observed, profile.utilities
    sums = _Sums.of(profile)
    rows, cols = np.arange(profile.n), np.arange(profile.m)
    F, names = backend._features(profile, texts, sums, rows, cols)
    assert names == ["offset", "neighbours"] and F.shape == (profile.n, profile.m, 2)
    for i in range(profile.n):
        for j in range(profile.m):
            others = [k for k in range(profile.m) if k != j and obs[i, k]]
            mean_k = [U[obs[:, k], k].mean() for k in others]  # a column's mean never depends on column j
            dev = np.array([U[i, k] - mk for k, mk in zip(others, mean_k)])
            assert F[i, j, 0] == pytest.approx(dev.sum() / (len(others) + 1.0), abs=1e-9)
            w = np.array([np.exp((texts.S[k] @ texts.S[j] - 1.0) / backend.tau) for k in others])
            expected = (w @ dev if others else 0.0) / (w.sum() + np.exp(-1.0 / backend.tau))
            assert F[i, j, 1] == pytest.approx(expected, abs=1e-9)
            assert sums.means_without(profile, np.array([i]), np.array([j]))[0] == pytest.approx(
                participant_means(profile, j)[i], abs=1e-9)
    every = sums.means_without(profile, rows, cols, every=True)
    np.testing.assert_allclose(every, np.column_stack([participant_means(profile, j) for j in cols]), atol=1e-9)


def test_prediction_blocks_agree_with_one_block(profile, monkeypatch):
    import pnyx.blocks

    whole = TextBackend(embed=_embed).predict(profile)
    monkeypatch.setattr(pnyx.blocks, "BLOCK_ENTRIES", 7)  # a few rows per block
    blocked = TextBackend(embed=_embed).predict(profile)
    np.testing.assert_allclose(blocked.utilities, whole.utilities, atol=1e-9)
    assert whole.info["n_fit"] == int(profile.observed.sum())
