"""abcvoting as the oracle: the same approval profile on both sides, committees compared as sets."""

from __future__ import annotations

import numpy as np
from abcvoting import abcrules
from abcvoting.output import WARNING, output
from abcvoting.preferences import Profile as AbcProfile
from hypothesis import strategies as st

output.set_verbosity(WARNING)


def to_abc(A: np.ndarray) -> AbcProfile:
    profile = AbcProfile(A.shape[1])
    profile.add_voters([np.flatnonzero(row).tolist() for row in A])
    return profile


def abc_winners(rule_id: str, A: np.ndarray, k: int, **kwargs) -> set[frozenset[int]]:
    """All of abcvoting's winning committees (irresolute)."""
    committees = abcrules.compute(rule_id, to_abc(A), k, resolute=False, **kwargs)
    return {frozenset(c) for c in committees}


def abc_resolute(rule_id: str, A: np.ndarray, k: int, **kwargs) -> frozenset[int]:
    return frozenset(abcrules.compute(rule_id, to_abc(A), k, resolute=True, **kwargs)[0])


@st.composite
def approval_profiles(draw, max_n: int = 12, max_m: int = 7):
    """(U, k): a 0–4 utility matrix whose approvals (U ≥ 3) form the profile, and a committee size."""
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(1, max_m))
    k = draw(st.integers(1, m))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.2, 0.4, 0.6]))
    rng = np.random.default_rng(seed)
    A = rng.random((n, m)) < density
    U = np.where(A, rng.choice([3.0, 4.0], (n, m)), rng.choice([0.0, 1.0, 2.0], (n, m)))
    return U, k


def euclidean(n: int, m: int, seed: int = 0) -> np.ndarray:
    """A seeded 2-D Euclidean profile: utility 4 within the distance that gives ~3 approvals per voter, else 0."""
    rng = np.random.default_rng(seed)
    voters, cands = rng.random((n, 2)), rng.random((m, 2))
    dist = np.linalg.norm(voters[:, None] - cands[None], axis=2)
    return np.where(dist < np.quantile(dist, 3 / m), 4.0, 0.0)
