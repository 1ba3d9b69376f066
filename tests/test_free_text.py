"""Free text with no ratings, offline: a slate from similarity scores, said plainly, independent of row order."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from pnyx.cli import app
from pnyx.data import InputError
from pnyx.io import load

runner = CliRunner()

CAMPS = {
    "bikes": ["Cities need protected bike lanes on every main road.", "Cycling to work should be safe for children too.",
              "More bicycle parking near stations would help me ride.", "I want fewer cars and more cycle paths downtown.",
              "Bike lanes separated from traffic would get me cycling.", "Safe cycling routes matter more than car parking.",
              "Our town should build a connected network of cycle tracks.", "Give cyclists their own lanes, away from buses."],
    "parks": ["We need more trees and green parks in every neighbourhood.", "Parks are where my kids play; protect them.",
              "Plant trees along the streets to cool the city in summer.", "Turn empty lots into community gardens and parks.",
              "Green spaces are essential for mental health.", "The city should not sell park land to developers.",
              "More shade trees and benches in our public parks.", "Every child should live within walking distance of a park."],
    "taxes": ["Property taxes are too high for retired people.", "Lower the local taxes before spending on new projects.",
              "The council wastes money; cut the budget and taxes.", "I cannot afford another rise in council tax.",
              "Keep taxes low so that families can stay in town.", "Spend less on consultants and reduce what we pay.",
              "Tax increases hurt small shops on the high street.", "Freeze the council tax for the next five years."],
}


def write_opinions(path, shuffle_seed: int | None = None):
    rows = [(f"{camp}-{i}", "q1", text) for camp, texts in CAMPS.items() for i, text in enumerate(texts)]
    rows += [(pid, "q2", f"My view in one line: {text.lower()}") for pid, _, text in rows]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(rows)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["participant_id", "question", "text"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("free-text")
    out = {}
    for name, shuffle in (("ordered", None), ("shuffled", 3)):
        data = write_opinions(base / f"{name}.csv", shuffle)
        result = runner.invoke(app, ["run", str(data), "-k", "3", "--out", str(base / name)])
        assert result.exit_code == 0, result.output
        out[name] = (base / name, result.output)
    return out


def test_opinions_alone_give_a_slate_offline_with_the_caveat_everywhere(runs):
    out, output = runs["ordered"]
    slate = json.loads((out / "slate.json").read_text())
    audit = json.loads((out / "audit.json").read_text())
    report = (out / "report.html").read_text()
    assert len(slate["statements"]) == 3 and all(s["source"] == "cluster" for s in slate["statements"])
    assert "No judgment was observed" in output and "--backend llm" in output
    assert any("No judgment was observed" in c for c in audit["caveats"])
    assert "No judgment was observed" in report
    assert audit["accuracy"] == {"available": False, "reason": "no observed judgments"}
    assert audit["utilities"]["sources"] == ["similarity:all-MiniLM-L6-v2"]
    # no green verdict on utilities that are not judgments
    assert 'class="ok"' not in report
    # each camp is spoken for by the statement that came from it: similarity, not a constant
    with (out / "assignment.csv").open() as f:
        rows = list(csv.DictReader(f))
    utilities = [float(r["utility"]) for r in rows]
    assert np.ptp(utilities) > 0.5
    camp_of_statement = {}
    for r in rows:
        camp_of_statement.setdefault(r["statement"], []).append(r["participant"].split("-")[0])
    majorities = {max(set(c), key=c.count) for c in camp_of_statement.values()}
    assert majorities == set(CAMPS)


def test_shuffling_the_rows_does_not_change_the_slate(runs):
    first = json.loads((runs["ordered"][0] / "slate.json").read_text())
    second = json.loads((runs["shuffled"][0] / "slate.json").read_text())
    assert [s["text"] for s in first["statements"]] == [s["text"] for s in second["statements"]]
    assert [s["supporters"] for s in first["statements"]] == [s["supporters"] for s in second["statements"]]


@pytest.mark.parametrize("backend", ["cf", "text", "hybrid"])
def test_backends_that_learn_from_judgments_say_so_in_one_line(tmp_path, backend):
    data = write_opinions(tmp_path / "opinions.csv")
    result = runner.invoke(app, ["run", str(data), "-k", "3", "--backend", backend, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    message = result.output.strip()
    assert "learns from observed judgments" in message and "--backend offline" in message
    assert "Traceback" not in message and len(message.splitlines()) <= 3  # one line, wrapped by the terminal


def test_similarity_needs_text():
    from pnyx.data import Participant, Profile, Statement
    from pnyx.queries import get_discriminative

    profile = Profile.from_judgments([Participant("a"), Participant("b")], [Statement("s", "a statement")], [], "rating")
    with pytest.raises(InputError, match="fewer than two participants wrote anything"):
        get_discriminative("similarity").predict(profile)


def test_similarity_is_calibrated_on_the_participants_and_ignores_row_order(tmp_path):
    from pnyx.queries import get_discriminative

    profile = load(write_opinions(tmp_path / "o.csv"))
    shuffled = load(write_opinions(tmp_path / "s.csv", 5))
    assert profile.participant_ids == shuffled.participant_ids
    from pnyx.data import Statement

    extra = [Statement("x", "Build protected cycle lanes."), Statement("y", "Cut the council tax.")]
    a = get_discriminative("similarity").predict(profile.add_statements(extra)).utilities
    b = get_discriminative("similarity").predict(shuffled.add_statements(extra)).utilities
    np.testing.assert_allclose(a, b)
    bikes = [i for i, pid in enumerate(profile.participant_ids) if pid.startswith("bikes")]
    taxes = [i for i, pid in enumerate(profile.participant_ids) if pid.startswith("taxes")]
    assert a[bikes, 0].mean() > a[taxes, 0].mean() + 1 and a[taxes, 1].mean() > a[bikes, 1].mean() + 1
