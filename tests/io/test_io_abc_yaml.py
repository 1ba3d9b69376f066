"""abcvoting YAML: written by abcvoting, read by pnyx, compared with abcvoting's own reader."""

from __future__ import annotations

import numpy as np
from abcvoting import fileio
from abcvoting.preferences import Profile as ABCProfile
from abcvoting.preferences import Voter

from pnyx.io import load


def test_round_trip_through_abcvoting(tmp_path):
    rng = np.random.default_rng(0)
    abc = ABCProfile(9)
    abc.add_voters([list(np.flatnonzero(rng.random(9) < 0.3)) for _ in range(40)])  # some approve nothing
    path = tmp_path / "instance.abc.yaml"
    fileio.write_abcvoting_instance_to_yaml_file(path, abc, committeesize=3,
                                                 compute_instances=[{"rule_id": "pav", "result": [[0, 1, 2]]}], description="d")
    profile = load(path)
    oracle, committeesize, compute, _ = fileio.read_abcvoting_yaml_file(path)
    expected = np.array([[c in voter.approved for c in range(oracle.num_cand)] for voter in oracle])
    assert (profile.n, profile.m) == (len(oracle), oracle.num_cand)
    np.testing.assert_array_equal(profile.utilities == 4.0, expected)
    np.testing.assert_array_equal(profile.utilities == 0.0, ~expected)
    assert profile.observed.all()
    assert profile.info["committeesize"] == committeesize == 3
    assert profile.info["compute"][0]["rule_id"] == compute[0]["rule_id"] and profile.info["description"] == "d"


def test_integer_weights_count_as_copies(tmp_path):
    abc = ABCProfile(4)
    abc.add_voter(Voter([0, 1]))
    abc.add_voter(Voter([2], weight=3))
    path = tmp_path / "w.abc.yaml"
    fileio.write_abcvoting_instance_to_yaml_file(path, abc)
    profile = load(path)
    assert profile.participant_ids == ["0", "1.1", "1.2", "1.3"]
    assert (profile.utilities[1:] == profile.utilities[1]).all() and profile.utilities[1].tolist() == [0, 0, 4, 0]
