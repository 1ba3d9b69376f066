"""Pairwise preferences: margins, the Bradley–Terry conversion, the CSV layouts and the Profile's bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import spearmanr

from pnyx.data import Participant, Profile, Statement
from pnyx.io import load
from pnyx.pairwise import bradley_terry, held_out_accuracy, margins, with_pairwise_utilities


def _brute_margins(pw, m):
    M = np.zeros((m, m), dtype=int)
    for p in set(pw[:, 0]):
        mine = pw[pw[:, 0] == p]
        for a in range(m):
            for b in range(m):
                net = ((mine[:, 1] == a) & (mine[:, 2] == b)).sum() - ((mine[:, 1] == b) & (mine[:, 2] == a)).sum()
                M[a, b] += np.sign(net)
    return M


def _random_pairs(rng, n, m, count):
    p = rng.integers(0, n, count)
    a = rng.integers(0, m, count)
    b = (a + rng.integers(1, m, count)) % m
    return np.column_stack([p, a, b])


def test_margins_count_each_participant_once_per_pair():
    rng = np.random.default_rng(0)
    pw = _random_pairs(rng, 6, 4, 60)  # many repeated and contradictory comparisons
    M = margins(pw, 4)
    np.testing.assert_array_equal(M, _brute_margins(pw, 4))
    np.testing.assert_array_equal(M, -M.T)
    assert margins([[0, 0, 1], [0, 1, 0]], 2).tolist() == [[0, 0], [0, 0]]  # nets out


def test_margins_reject_bad_indices():
    with pytest.raises(ValueError, match="out of range"):
        margins([[0, 0, 5]], 3)
    with pytest.raises(ValueError, match="itself"):
        margins([[0, 1, 1]], 3)


def test_win_probability_matches_brute_force():
    rng = np.random.default_rng(1)
    n, m = 7, 9
    fit = bradley_terry(_random_pairs(rng, n, m, 80), n, m)
    s = fit.scores
    brute = np.array([[np.mean([expit(s[i, j] - s[i, k]) for k in range(m) if k != j]) for j in range(m)] for i in range(n)])
    np.testing.assert_allclose(fit.utilities, 4 * brute, atol=1e-12)
    assert fit.info["converged"]


def test_bradley_terry_recovers_personal_orders_better_than_population():
    # two camps with opposite orders of 6 statements; comparisons drawn from each participant's BT model
    rng = np.random.default_rng(2)
    n, m = 40, 6
    truth = np.where(np.arange(n)[:, None] < n // 2, np.linspace(-2, 2, m), np.linspace(2, -2, m))
    rows = []
    for _ in range(30 * n):
        i, a, b = rng.integers(n), *rng.choice(m, 2, replace=False)
        rows.append((i, a, b) if rng.random() < expit(truth[i, a] - truth[i, b]) else (i, b, a))
    pw = np.array(rows)
    test = rng.random(len(pw)) < 0.2
    personal = held_out_accuracy(bradley_terry(pw[~test], n, m), pw[test])
    population = held_out_accuracy(bradley_terry(pw[~test], n, m, personal=False), pw[test])
    assert personal > 0.75 > population + 0.1
    fit = bradley_terry(pw, n, m)
    first, second = fit.utilities[: n // 2].mean(0), fit.utilities[n // 2:].mean(0)
    assert spearmanr(first, np.arange(m))[0] > 0.8 and spearmanr(second, np.arange(m))[0] < -0.8  # each camp's order
    assert first.argmax() == m - 1 and second.argmax() == 0
    assert fit.utilities.min() >= 0 and fit.utilities.max() <= 4


def test_profile_keeps_pairwise_consistent():
    profile = Profile.from_judgments([Participant(p) for p in "abc"], [Statement(s, s) for s in "xyzw"], [], "rating",
                                     pairwise=[[0, 0, 1], [1, 2, 3], [2, 3, 0], [2, 1, 2]])
    sub = profile.subset(participants=[2, 0], statements=[3, 0, 1])
    assert sub.pairwise.tolist() == [[1, 1, 2], [0, 0, 1]] or sorted(sub.pairwise.tolist()) == [[0, 0, 1], [1, 1, 2]]
    assert profile.add_statements([Statement("v", "v")]).pairwise.tolist() == profile.pairwise.tolist()
    assert profile.hide(np.ones((3, 4), bool)).pairwise.tolist() == profile.pairwise.tolist()
    assert Profile.from_judgments([], [], [], "rating").pairwise.shape == (0, 3)
    filled = with_pairwise_utilities(profile)
    assert not np.isnan(filled.utilities).any() and not filled.observed.any()
    assert filled.provenance_of(0, 0) == "bradley-terry"


def test_pairwise_csv_and_all_our_ideas_layouts(tmp_path):
    (tmp_path / "p.csv").write_text("participant_id,preferred,other\na,s1,s2\na,s2,s3\nb,s3,s1\n")
    p = load(tmp_path / "p.csv")
    assert (p.n, p.m, p.participant_ids, p.statement_ids) == (2, 3, ["a", "b"], ["s1", "s2", "s3"])
    assert p.pairwise.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 0]] and p.info["pairwise_layout"] == "pnyx"

    aoi = ("Vote ID,Session ID,Question ID,Winner ID,Winner Text,Loser ID,Loser Text,Prompt ID,Left Choice ID,"
           "Right Choice ID,Created at,Updated at,Valid\n"
           "1,s9,5,10,'More parks',11,'Fewer cars',3,10,11,x,x,true\n"
           "2,s9,5,11,'Fewer cars',,,3,10,11,x,x,true\n"
           "3,s8,5,12,'Free buses',10,'More parks',3,12,10,x,x,false\n"
           "4,s8,5,12,'Free buses',11,'Fewer cars',3,12,11,x,x,true\n")
    (tmp_path / "votes.csv").write_text(aoi)
    q = load(tmp_path / "votes.csv")
    assert [s.text for s in q.statements] == ["More parks", "Fewer cars", "Free buses"]
    assert q.participant_ids == ["s8", "s9"]  # in id order, as every reader gives them
    assert q.pairwise.tolist() == [[1, 0, 1], [0, 2, 1]]
    assert q.excluded == {"comparisons without a loser": 1, "comparisons marked not valid": 1}

    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "statements.csv").write_text("statement_id,text\ns1,One\ns2,Two\n")
    (folder / "pairwise.csv").write_text("participant_id,preferred,other\na,s1,s2\n")
    assert [s.text for s in load(folder).statements] == ["One", "Two"]


def test_run_on_a_pairwise_only_csv(tmp_path):
    """`pnyx run` on comparisons alone: utilities from the Bradley–Terry conversion, a complete slate."""
    from typer.testing import CliRunner

    from pnyx.cli import app

    rows = ["participant_id,preferred,other"]
    for i in range(12):
        order = [0, 1, 2, 3] if i < 6 else [3, 2, 1, 0]  # two camps, each comparing every pair once
        rows += [f"p{i},s{order[a]},s{order[b]}" for a in range(4) for b in range(a + 1, 4)]
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "pairs.csv"), "-k", "2", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    import json

    slate = json.loads((tmp_path / "out" / "slate.json").read_text())
    assert sorted(s["id"] for s in slate["statements"]) == ["s0", "s3"]  # each camp's favourite
    assert (tmp_path / "out" / "manifest.json").is_file()
