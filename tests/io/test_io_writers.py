"""Writers: profiles and results as JSON and CSV, read back with the json and csv modules."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass

import numpy as np
import pytest

from pnyx.io import load, write_csv, write_json, write_jsonl, write_profile


@pytest.fixture
def profile(polis):
    observed = load(polis).subset(participants=range(40), statements=range(12))
    guess = np.where(observed.observed, np.nan, 3.0)
    guess[0, :] = np.nan  # participant 0 keeps unknown entries
    return observed.with_predictions(guess, "test:constant")


def test_profile_csv_long_format(profile, tmp_path):
    with open(write_profile(profile, tmp_path / "p.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    known = ~np.isnan(profile.utilities)
    assert len(rows) == int(known.sum()) and 0 < int(profile.observed.sum()) < len(rows)
    for row in rows:
        i, j = profile.participant_index(row["participant"]), profile.statement_index(row["statement"])
        assert float(row["utility"]) == profile.utilities[i, j]
        assert float(row["value"]) == float(row["utility"]) / 2 - 1  # vote scale
        assert row["observed"] == str(bool(profile.observed[i, j]))
        assert row["provenance"] == ("observed" if profile.observed[i, j] else "test:constant")


def test_profile_json(profile, tmp_path):
    data = json.loads(write_profile(profile, tmp_path / "p.json").read_text(encoding="utf-8"))
    assert data["scale"] == "vote" and len(data["participants"]) == profile.n
    utilities = np.array([[np.nan if u is None else u for u in row] for row in data["utilities"]])
    np.testing.assert_array_equal(utilities, profile.utilities)
    assert np.array(data["observed"]).sum() == profile.observed.sum()
    assert data["provenance_labels"] == ["observed", "test:constant"]
    assert data["statements"][0]["cost"] == profile.statements[0].cost
    assert data["excluded"] == profile.excluded and data["info"]["format"] == "polis"
    with pytest.raises(ValueError, match="writes .json or .csv"):
        write_profile(profile, tmp_path / "p.txt")


def test_explanations_are_written_with_ids(chatbot, tmp_path):
    profile = load(chatbot / "validation.jsonl")
    data = json.loads(write_profile(profile, tmp_path / "v.json").read_text(encoding="utf-8"))
    assert len(data["explanations"]) == 500 and data["explanations"][0]["participant"] == "validation1"


def test_write_json_numpy_and_dataclasses(tmp_path):
    @dataclass
    class Result:
        slate: np.ndarray
        scores: list
        ties: dict

    obj = {"result": Result(np.array([3, 1]), [np.float64(1.5), float("nan")], {(0, 1): np.int64(2)}), "ids": {"b", "a"}}
    data = json.loads(write_json(obj, tmp_path / "out" / "r.json").read_text(encoding="utf-8"))
    assert data == {"result": {"slate": [3, 1], "scores": [1.5, None], "ties": {"0,1": 2}}, "ids": ["a", "b"]}
    with pytest.raises(TypeError):
        write_json({"x": object()}, tmp_path / "bad.json")


def test_write_csv(tmp_path):
    path = write_csv([{"a": np.int64(1), "b": float("nan")}, {"a": "x", "b": None}], tmp_path / "t.csv", ["a", "b"])
    assert path.read_text(encoding="utf-8").splitlines() == ["a,b", "1,", "x,"]
    with pytest.raises(ValueError):
        write_csv([{"a": 1, "c": 2}], tmp_path / "u.csv", ["a", "b"])  # nothing dropped silently


def test_write_jsonl_one_object_per_line_numpy_aware(tmp_path):
    path = write_jsonl([{"participant": "p1", "predicted": np.float64(2.5)}, {"participant": "p2", "predicted": np.int64(3)}],
                       tmp_path / "sub" / "pred.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [{"participant": "p1", "predicted": 2.5}, {"participant": "p2", "predicted": 3}]
