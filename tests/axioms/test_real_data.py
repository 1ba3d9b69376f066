"""Axiom checks on real data: the Polis conversation bundled in the repo and the GSC paper's validation survey."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from abcvoting import properties
from abcvoting.output import WARNING, output
from abcvoting.preferences import Profile as AbcProfile

from pnyx.assignment import balanced
from pnyx.axioms import check
from pnyx.axioms.base import approvals
from pnyx.io import load
from pnyx.rules import compute

REPO = Path(__file__).resolve().parents[2]
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"
SHARED = REPO.parent / "shared" / "data"
output.set_verbosity(WARNING)


@pytest.fixture(scope="module")
def polis_utilities() -> np.ndarray:
    return load(POLIS).utilities  # agree = 4 (approval), pass = 2, disagree = 0, unseen = NaN


@pytest.mark.parametrize("k", [5, 8])
def test_polis_slates_against_abcvoting(polis_utilities, k):
    """JR and EJR+ (abcvoting's polynomial checks) agree on a proportional slate and on a bad one."""
    U = polis_utilities
    A = approvals(U)
    profile = AbcProfile(U.shape[1])
    profile.add_voters([np.flatnonzero(a).tolist() for a in A])
    good = compute("seq-pav", U, k).slate
    worst = np.argsort(A.sum(axis=0), kind="stable")[:k].tolist()  # the k least-agreed comments
    for slate in (good, worst):
        for axiom in ("jr", "ejr+"):
            assert check(axiom, U, slate).satisfied == properties.check(axiom, profile, slate)
    for axiom in ("jr", "ejr+", "ejr", "pjr", "core"):
        assert check(axiom, U, good).satisfied, axiom  # seq-PAV's slate here is proportional
        bad = check(axiom, U, worst)
        assert not bad.satisfied, axiom
        S = bad.witness.coalition
        assert np.isfinite(U[np.ix_(S, bad.witness.statements)]).all()  # a witness never rests on unknown votes
        assert A[np.ix_(S, bad.witness.statements)].all() or axiom == "core"


def _validation():
    path = SHARED / "chatbot_personalization" / "validation.jsonl"
    if not path.parent.exists():
        pytest.skip(f"{path.parent} is absent")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ids = sorted({r["statement_id"] for row in rows for r in row["ratings"]})
    U = np.array([[next(r["rating"] for r in row["ratings"] if r["statement_id"] == s) for s in ids] for row in rows],
                 dtype=float)
    paper = np.array([ids.index(row["paper_assignment"]["statement_id"]) for row in rows])
    return U, paper


def test_bjr_on_the_papers_validation_survey():
    """100 validation participants rated the paper's 5-statement slate; the paper matched 20 to each.

    The default assignment is an optimal balanced one (total 366, as the data README reports); BJR
    is then checked over the slate's own statements, with the paper's and with the optimal matching.
    """
    U, paper = _validation()
    slate = list(range(5))
    assert np.bincount(paper).tolist() == [20] * 5
    assert balanced(U, slate).total == 366
    for assignment in (None, paper):
        r = check("bjr", U, slate, assignment=assignment)
        a = balanced(U, slate).assignment if assignment is None else paper
        got = U[np.arange(100), a]
        # the largest blocking coalition, counted directly over the rating levels
        largest = max(((U[:, j] >= t) & (got < t)).sum() for j in range(5) for t in range(1, 5))
        assert r.satisfied == (largest < 20)
        assert r.info["coalition_ratio"] == pytest.approx(largest / 20)
        if not r.satisfied:
            S = r.witness.coalition
            assert len(S) >= 20 and (U[S, r.witness.statement] >= r.witness.threshold).all()
            assert (got[S] < r.witness.threshold).all()
