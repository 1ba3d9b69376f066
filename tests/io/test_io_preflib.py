"""PrefLib files, read by pnyx and by abcvoting's PrefLib reader (preflibtools inside) as the oracle."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pref_voting
import pytest
from abcvoting import fileio
from abcvoting.preferences import Profile as ABCProfile

from pnyx.io import load

EXAMPLES = sorted((Path(pref_voting.__file__).parent / "data" / "examples").rglob("*.soc"))


def _approvals(profile) -> Counter:
    return Counter(tuple(np.flatnonzero(row == 4.0)) for row in profile.utilities)


def _oracle(path) -> Counter:
    return Counter(tuple(sorted(v.approved)) for v in fileio.read_preflib_file(str(path)))


def test_real_soc_files_agree_with_abcvoting():
    assert len(EXAMPLES) > 10
    for path in EXAMPLES:
        profile = load(path)
        assert profile.observed.all() and profile.info["data_type"] == "soc"
        assert _approvals(profile) == _oracle(path), path


def test_cat_written_by_abcvoting(tmp_path):
    rng = np.random.default_rng(1)
    ballots = [sorted(map(int, np.flatnonzero(rng.random(7) < 0.4))) for _ in range(60)]
    abc = ABCProfile(7, cand_names=[f"project {c}" for c in "abcdefg"])
    abc.add_voters(ballots)
    path = tmp_path / "approvals.cat"
    fileio.write_profile_to_preflib_cat_file(str(path), abc)
    profile = load(path)
    assert profile.n == 60 and profile.info["data_type"] == "cat"
    assert [s.text for s in profile.statements] == abc.cand_names
    assert _approvals(profile) == _oracle(path) == Counter(tuple(b) for b in ballots)


def test_ties_in_a_toc_file_approve_the_top_class(tmp_path):
    path = tmp_path / "ties.toc"
    path.write_text("# DATA TYPE: toc\n# NUMBER ALTERNATIVES: 4\n# NUMBER VOTERS: 3\n# NUMBER UNIQUE ORDERS: 2\n"
                    + "".join(f"# ALTERNATIVE NAME {a}: {name}\n" for a, name in enumerate(["w", "x", "y", "z"], 1))
                    + "2: {1, 3}, 2, 4\n1: 4, {1, 2, 3}\n", encoding="utf-8")
    profile = load(path)
    assert profile.participant_ids == ["1", "2", "3"] and profile.statement_ids == ["1", "2", "3", "4"]
    assert [s.text for s in profile.statements] == ["w", "x", "y", "z"]
    assert _approvals(profile) == _oracle(path) == Counter({(0, 2): 2, (3,): 1})


@pytest.mark.parametrize("suffix", [".soi", ".toi", ".soc"])
def test_ordinal_suffixes_are_detected(tmp_path, suffix):
    path = tmp_path / f"x{suffix}"
    path.write_text("# NUMBER ALTERNATIVES: 2\n1: 2, 1\n", encoding="utf-8")
    profile = load(path)
    assert profile.utilities.tolist() == [[0.0, 4.0]] and profile.statements[0].text == "alternative 1"
