"""`pnyx compare`: Vote'n'Rank's published winners on GLUE and SuperGLUE; exact Kemeny against
pref_voting's brute force."""

import json
from itertools import permutations
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pnyx.cli import app
from pnyx.data import InputError
from pnyx.methods.ranking import kemeny, kemeny_distance, pairwise, rank_systems

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def _compare(name: str) -> dict:
    result = runner.invoke(app, ["compare", str(DATA / f"{name}.csv"), "--weights", str(DATA / f"{name}-weights.csv"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_glue_published_winners():
    r = _compare("glue")
    for rule in ("borda", "dowdall", "copeland", "minimax"):
        assert r[rule]["ranking"][0] == "ERNIE" and r[rule]["winners"] == ["ERNIE"]
    # the numbers of Vote'n'Rank's case study 1
    assert r["borda"]["scores"]["ERNIE"] == 260.5 and r["borda"]["scores"]["StructBERT + CLEVER"] == 256.0
    assert r["copeland"]["scores"]["ERNIE"] == 29 and r["minimax"]["scores"]["ERNIE"] == 0
    assert round(r["dowdall"]["scores"]["GLUE Human Baselines"], 2) == 4.08
    assert r["plurality"]["winners"] == ["ERNIE", "GLUE Human Baselines"]
    assert r["kemeny"]["status"] == "optimal" and r["kemeny"]["ranking"][0] == "ERNIE"  # ERNIE is a Condorcet winner


def test_superglue_published_winners():
    r = _compare("superglue")
    assert r["borda"]["ranking"][:2] == ["ERNIE 3.0", "T5 + UDG, Single Model (Google Brain)"]
    assert r["borda"]["scores"]["ERNIE 3.0"] == 155.0
    assert r["borda"]["scores"]["T5 + UDG, Single Model (Google Brain)"] == 154.5
    assert r["copeland"]["winners"] == ["SuperGLUE Human Baselines"] and r["copeland"]["scores"]["ERNIE 3.0"] == 19
    assert r["dowdall"]["winners"] == ["SuperGLUE Human Baselines"]
    assert r["borda"]["condorcet_winner"] is None  # none on SuperGLUE
    assert sorted(r["minimax"]["winners"]) == ["ERNIE 3.0", "SuperGLUE Human Baselines"]


def _brute_kemeny(P):
    m = P.shape[0]
    return min(kemeny_distance(list(o), P) for o in permutations(range(m)))


@pytest.mark.parametrize("seed", range(6))
def test_kemeny_ilp_equals_pref_voting_brute_force(seed):
    from pref_voting.other_methods import kemeny_young_rankings
    from pref_voting.profiles import Profile

    rng = np.random.default_rng(seed)
    m, voters = int(rng.integers(3, 7)), int(rng.integers(3, 9))
    rankings = [rng.permutation(m).tolist() for _ in range(voters)]
    counts = rng.integers(1, 4, size=voters).tolist()
    # tasks are voters: a score table whose column t ranks the systems as ranking t, weight = count
    S = np.zeros((m, voters))
    for t, r in enumerate(rankings):
        S[r, t] = np.arange(m, 0, -1)
    P = pairwise(S, np.array(counts, dtype=float))
    order, dist, status = kemeny(P)
    best_rankings, best = kemeny_young_rankings(Profile(rankings, counts))
    assert status == "optimal" and dist == pytest.approx(best) == pytest.approx(_brute_kemeny(P))
    assert tuple(order) in {tuple(r) for r in best_rankings}


def test_kemeny_falls_back_to_borda_when_too_large():
    rng = np.random.default_rng(0)
    S = rng.uniform(size=(8, 5))
    order, dist, status = kemeny(pairwise(S, np.ones(5)), max_exact=4)
    assert status == "borda" and dist == kemeny_distance(order, pairwise(S, np.ones(5)))


def test_text_output_and_bad_tables(tmp_path):
    ok = runner.invoke(app, ["compare", str(DATA / "glue.csv")])
    assert ok.exit_code == 0 and "borda" in ok.stdout and "ERNIE" in ok.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("system,a,b\nx,1,2\ny,3,-\n")
    result = runner.invoke(app, ["compare", str(bad)])
    assert result.exit_code == 2 and "line 3" in result.output and "expected a number, got '-'" in result.output
    w = tmp_path / "w.csv"
    w.write_text("task,weight\nc,1\n")
    result = runner.invoke(app, ["compare", str(DATA / "glue.csv"), "--weights", str(w)])
    assert result.exit_code == 2 and "unknown task 'c'" in result.output
    with pytest.raises(InputError):
        rank_systems([[1, 2]], ["only"])
