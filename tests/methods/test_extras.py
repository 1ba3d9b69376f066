"""audit_extras on the bundled Polis conversation, and `pnyx explain`."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pnyx.assignment import balanced
from pnyx.cli import app
from pnyx.io import load
from pnyx.methods import audit_extras
from pnyx.queries import get_discriminative

POLIS = Path(__file__).resolve().parents[2] / "examples" / "scoop-hivemind-biodiversity"
runner = CliRunner()


@pytest.fixture(scope="module")
def polis():
    profile = load(POLIS)
    return profile, get_discriminative("cf").predict(profile).apply(profile).utilities


def test_audit_extras_is_json_and_consistent(polis):
    profile, U = polis
    slate = [7, 24, 35, 57, 139]
    out = json.loads(json.dumps(audit_extras(profile, U, slate, balanced(U, slate))))
    assert out["groups"]["method"] == "data" and out["groups"]["names"] == ["0", "1"]
    probs = [s["probability"] for s in out["maximal_lottery"]["support"]]
    assert sum(probs) == pytest.approx(1) and out["maximal_lottery"]["value"] >= -1e-9
    assert [d["statement"] for d in out["divisiveness"]] == [profile.statements[j].id for j in slate]
    assert all(0 <= d["divisiveness"] <= 4 and d["kappa"] <= 4 for d in out["divisiveness"])
    eg = out["egalitarian"]
    assert min(eg["maxmin"].values()) >= min(eg["slate"].values()) - 1e-9
    assert set(out["bias"]["slate_shift"]) == {"0", "1"} and out["bias"]["groups"][0]["judgments"] > 0
    assert set(out["inclusion"]["per_group"]) == {"0", "1"}


def test_a_statement_with_several_seats_is_one_divisiveness_row(polis):
    profile, U = polis
    slate = [7, 24, 7, 57, 7]
    out = audit_extras(profile, U, slate, balanced(U, slate))
    assert [d["statement"] for d in out["divisiveness"]] == [profile.statements[j].id for j in (7, 24, 57)]


def test_explain_cli(tmp_path, polis):
    profile, _ = polis
    ids = [profile.statements[j].id for j in (7, 24, 139)]
    slate = tmp_path / "slate.json"
    slate.write_text(json.dumps({"statements": [{"id": i} for i in ids]}))
    result = runner.invoke(app, ["explain", str(POLIS), "--slate", str(slate), "--statement", ids[0], "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["method"] == "exact" and out["players"] == ["0", "1"]
    assert sum(out["values"]) == pytest.approx(out["v_all"] - out["v_empty"])
    people = runner.invoke(app, ["explain", str(POLIS), "--slate", str(slate), "--statement", ids[0], "--by",
                                 "participants", "--permutations", "20", "--json"])
    assert people.exit_code == 0, people.output
    p = json.loads(people.stdout)
    assert p["method"] == "permutation" and len(p["values"]) == profile.n and len(p["stderr"]) == profile.n
    assert np.sum(p["values"]) == pytest.approx(p["v_all"] - p["v_empty"])
    owen = runner.invoke(app, ["explain", str(POLIS), "--slate", str(slate), "--statement", ids[0], "--by", "owen",
                               "--permutations", "20", "--json"])
    assert owen.exit_code == 0, owen.output
    o = json.loads(owen.stdout)
    assert o["method"] == "owen-permutation" and np.sum(o["values"]) == pytest.approx(o["v_all"] - o["v_empty"])
    missing = runner.invoke(app, ["explain", str(POLIS), "--slate", str(slate), "--statement", "nope"])
    assert missing.exit_code == 2 and "not in the slate" in missing.output


def test_llm_sentence_attribution_with_a_deterministic_stand_in_for_the_server(polis):
    """The real LLMBackend builds every coalition's request; a stand-in client answers each one by a
    fixed function of which sentences its prompt holds (no server, no network)."""
    from dataclasses import replace

    from pnyx.data import Participant
    from pnyx.methods.extras import llm_sentence_attribution
    from pnyx.queries.client import LLMConfig
    from pnyx.queries.llm import LLMBackend

    profile, _ = polis
    people = list(profile.participants)
    people[0] = Participant("p0", {"q": "Trees matter. Birds matter too!", "r": "Cities are fine."})
    profile = replace(profile, participants=people)

    class StandIn:
        def __init__(self):
            self.prompts = []

        def run_many(self, requests, progress=False):
            out = []
            for r in requests:
                text = r.input[-1]["content"].split("<statement>")[0]
                self.prompts.append(text)
                rating = 1 + 2 * ("Trees matter." in text) + ("Birds" in text and "Trees" in text)
                out.append({"choices": [{"message": {"content": str(rating)}}]})
            return out

    backend = LLMBackend(LLMConfig(base_url="http://127.0.0.1:9", model="stand-in"))
    backend.client = StandIn()
    r = llm_sentence_attribution(profile, 0, 3, backend)
    assert r.players == ["Trees matter.", "Birds matter too!", "Cities are fine."]
    np.testing.assert_allclose(r.values, [2.5, 0.5, 0.0])
    assert len(backend.client.prompts) == 8 and r.values.sum() == pytest.approx(r.v_all - r.v_empty)
    backend.config = replace(backend.config, temperature=1.0)
    with pytest.raises(Exception, match="temperature 0"):
        llm_sentence_attribution(profile, 0, 3, backend)
