"""The query planner (pnyx.planner): bounds, settling, adaptive rounds, the people chooser, and the
process through a real OpenAI-compatible server on loopback (benchmarks/truth_server.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pnyx.assignment import balanced
from pnyx.data import InputError
from pnyx.planner import (PlannerChooser, adaptive_gsc, adaptive_round, choose_for_participant, judgment_value,
                          plan_queries, plan_ratings, score_bounds)
from pnyx.rules.gsc import gsc, gsc_round

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("truth_server", ROOT / "benchmarks" / "truth_server.py")
truth_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(truth_server)


def spatial(n: int, m: int, seed: int) -> np.ndarray:
    """Utilities 0–4 falling with the distance between participants (5 clusters) and statements in the plane."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (5, 2))
    x = centres[rng.integers(5, size=n)] + rng.normal(0, 0.6, (n, 2))
    y = rng.normal(0, 1.6, (m, 2))
    return np.clip(4 * np.exp(-np.linalg.norm(x[:, None] - y[None], axis=2) ** 2 / 2), 0, 4)


def oracle(T: np.ndarray):
    count = [0]

    def ask(pairs):
        count[0] += len(pairs)
        return T[pairs[:, 0], pairs[:, 1]]

    return ask, count


# -- bounds -----------------------------------------------------------------------------------------

def test_bounds_are_exact_when_everything_is_known():
    T = spatial(40, 6, 0)
    est, lo, hi = score_bounds(T, np.zeros_like(T), np.ones_like(T, bool), 7)
    exact = np.sort(T, axis=0)[-7]
    assert np.allclose(est, exact) and np.allclose(lo, exact, atol=1e-6) and np.allclose(hi, exact, atol=1e-6)


def test_bounds_cover_the_r_th_utility_under_the_model():
    rng = np.random.default_rng(1)
    mean = rng.uniform(0.5, 3.5, (200, 5))
    sd = np.full_like(mean, 0.5)
    _, lo, hi = score_bounds(mean, sd, np.zeros_like(mean, bool), 20, z=2.0)
    assert (lo < hi).all()
    covered = []
    for _ in range(200):
        draw = mean + sd * rng.standard_normal(mean.shape)
        t = np.sort(draw, axis=0)[-20]
        covered.append((lo <= t) & (t <= hi))
    assert np.mean(covered) >= 0.9  # nominal ≈ 0.95 (two one-sided 2σ bounds)


# -- plan_queries ----------------------------------------------------------------------------------

def test_a_candidate_far_below_the_leader_is_screened_out_without_queries():
    rng = np.random.default_rng(2)
    n = 100
    V = np.column_stack([np.full(n, 3.5), np.full(n, 3.4), np.full(n, 0.5)]) + rng.normal(0, 0.1, (n, 3))
    sd = np.full_like(V, 0.3)
    plan = plan_queries(V, sd, np.zeros_like(V, bool), np.ones(n, bool), 10, batch=40)
    assert not plan.settled and plan.leader == 0 and plan.contenders == [1]
    assert set(plan.pairs[:, 1]) == {0, 1} and len(plan.pairs) == 40
    assert plan.upper[2] < plan.lower[0]


def test_queries_go_to_unknown_unmatched_entries_only_and_respect_the_budget():
    T = spatial(60, 8, 3)
    known = np.random.default_rng(3).random(T.shape) < 0.3
    unmatched = np.arange(60) % 3 != 0
    plan = plan_queries(np.where(known, T, 2.0), np.full_like(T, 1.0), known, unmatched, 10, batch=30, budget=12)
    assert 0 < len(plan.pairs) <= 12
    assert not known[plan.pairs[:, 0], plan.pairs[:, 1]].any() and unmatched[plan.pairs[:, 0]].all()
    spent = plan_queries(np.where(known, T, 2.0), np.full_like(T, 1.0), known, unmatched, 10, budget=0)
    assert spent.settled and spent.reason == "budget" and len(spent.pairs) == 0


def test_plan_refuses_bad_input():
    V = np.ones((4, 2))
    with pytest.raises(InputError, match="round size"):
        plan_queries(V, V, V > 0, np.ones(4, bool), 5)
    with pytest.raises(InputError, match="estimate"):
        plan_queries(np.full((4, 2), np.nan), V, V < 0, np.ones(4, bool), 2)


# -- adaptive rounds ---------------------------------------------------------------------------------

def test_uninformative_predictions_make_the_round_ask_until_it_equals_the_exhaustive_round():
    T = spatial(50, 6, 4)
    ask, count = oracle(T)
    unmatched = np.ones(50, bool)
    res = adaptive_round(np.full_like(T, 2.0), np.full_like(T, 5.0), np.zeros_like(T, bool), unmatched, 10, ask)
    exact = gsc_round(T, unmatched, 10)
    assert res.settled and res.group_settled and res.reason == "bounds"
    assert res.step.candidate == exact.candidate and set(res.step.matched) == set(exact.matched)
    assert 0 < count[0] == len(res.asked) <= T.size


def test_adaptive_gsc_matches_exhaustive_quality_with_a_fraction_of_the_queries():
    T = spatial(400, 40, 5)
    rng = np.random.default_rng(5)
    noise = 0.4
    pred = np.clip(T + rng.normal(0, noise, T.shape), 0, 4)  # a cheap predictor with a known error
    ask, count = oracle(T)
    res = adaptive_gsc(pred, np.full_like(T, noise), np.zeros_like(T, bool), 8, ask)
    exhaustive = gsc(T, 8)
    assert res.queries == count[0] <= T.size // 3
    assert balanced(T, res.slate).total >= 0.99 * balanced(T, exhaustive.slate).total
    assert len(set(res.slate)) == 8 and (res.matching >= 0).all()
    assert all(r["reason"] in ("bounds", "exhausted") for r in res.rounds)


def test_a_query_budget_caps_the_whole_run():
    T = spatial(200, 20, 6)
    ask, count = oracle(T)
    res = adaptive_gsc(np.full_like(T, 2.0), np.full_like(T, 2.0), np.zeros_like(T, bool), 5, ask, budget=150)
    assert count[0] == res.queries <= 150
    assert any(r["reason"] == "budget" for r in res.rounds) and len(res.slate) == 5


# -- people -----------------------------------------------------------------------------------------

def test_judgment_value_is_zero_on_known_entries_and_on_screened_out_candidates():
    n = 80
    V = np.column_stack([np.full(n, 3.0), np.full(n, 2.9), np.full(n, 0.2)])
    known = np.zeros_like(V, bool)
    known[:10] = True
    w = judgment_value(V, np.full_like(V, 0.5), known, 2)
    assert (w[known] == 0).all() and (w[:, 2] == 0).all() and (w[10:, :2] > 0).all()


def test_chooser_respects_the_per_participant_limit_and_never_repeats_a_judgment():
    rng = np.random.default_rng(7)
    T = np.round(spatial(60, 12, 7))
    obs = rng.random(T.shape) < 0.25
    obs[:, 0] = True
    profile = truth_server.truth_profile(np.where(obs, T, np.nan))
    chooser = PlannerChooser(3, per_participant=5)
    for i in range(profile.n):
        chosen = chooser(i, profile)
        assert len(chosen) == max(0, 5 - int(obs[i].sum())) and not obs[i, chosen].any()
        assert len(set(chosen)) == len(chosen)
    pairs = plan_ratings(profile, 3, per_participant=5)
    assert pairs == [(i, j) for i in range(profile.n) for j in chooser(i, profile)]
    assert choose_for_participant(0, np.zeros(T.shape), np.ones(T.shape, bool), 5) == []


def test_spread_interleaves_least_rated_statements_with_the_value_order_at_its_rate():
    m = 12
    w = np.zeros((1, m))
    w[0, :4] = [4.0, 3.0, 2.0, 1.0]  # value: columns 0, 1, 2, 3
    counts = np.array([9, 9, 9, 9, 5, 4, 3, 2, 1, 0, 6, 7])  # fewest judgments: columns 9, 8, 7, 6, ...
    known = np.zeros((1, m), bool)
    assert choose_for_participant(0, w, known, 4, counts) == [0, 1, 2, 3]
    assert choose_for_participant(0, w, known, 6, counts, spread=0.5) == [0, 9, 1, 8, 2, 7]
    assert choose_for_participant(0, w, known, 4, counts, spread=1.0) == [9, 8, 7, 6]
    known[0, [0, 9]] = True  # already judged: neither queue offers them, the limit counts them
    assert choose_for_participant(0, w, known, 6, counts, spread=0.5) == [1, 8, 2, 7]


def test_pnyx_plan_writes_the_pairs_to_collect(tmp_path):
    T = np.round(spatial(30, 8, 8))
    obs = np.random.default_rng(8).random(T.shape) < 0.3
    obs[0] = True
    truth_server.write_truth_jsonl(np.where(obs, T, np.nan), tmp_path / "data.jsonl")
    out = tmp_path / "pairs.csv"
    cli = [sys.executable, "-m", "pnyx.cli", "plan", str(tmp_path / "data.jsonl"), "-k", "3", "--per-participant", "4"]
    done = subprocess.run(cli + ["--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    per = {}
    for pid, sid, _ in rows:
        i, j = int(pid[1:]), int(sid[1:])
        assert not obs[i, j]
        per[i] = per.get(i, 0) + 1
    assert all(per.get(i, 0) == max(0, 4 - int(obs[i].sum())) for i in range(30))
    bad = subprocess.run(cli[:4] + [str(tmp_path / "missing.jsonl"), "-k", "3", "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# -- the process through a real HTTP server ------------------------------------------------------------

@pytest.fixture()
def truth(tmp_path):
    rng = np.random.default_rng(9)
    T = spatial(60, 10, 9)
    obs = rng.random(T.shape) < 0.15
    obs[rng.integers(60, size=10), np.arange(10)] = True
    data = tmp_path / "data.jsonl"
    truth_server.write_truth_jsonl(np.where(obs, np.round(T), np.nan), data)
    with truth_server.TruthServer(T) as server:
        yield server, data


def _run(server, data, out, *extra, accuracy=False):
    env = {**os.environ, "PNYX_LLM_BASE_URL": server.base_url, "PNYX_LLM_MODEL": "truth"}
    cmd = [sys.executable, "-m", "pnyx.cli", "run", str(data), "-k", "3", "--backend", "llm", "--generators",
           "extractive", "--accuracy" if accuracy else "--no-accuracy", "--out", str(out), *extra]
    return cmd, env


def test_adaptive_is_the_llm_default_asks_fewer_and_reruns_from_the_cache(truth, tmp_path):
    server, data = truth
    cmd, env = _run(server, data, tmp_path / "a", accuracy=True)
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    audit = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert audit["accuracy"]["backend"].startswith("cf")  # the screen's accuracy: no model call for it
    q = audit["queries"]
    assert q["mode"] == "adaptive" and q["exhaustive_calls"] == audit["n"] * 10  # (participants with no judgment are left out)
    assert 0 < q["calls"] == audit["model_usage"]["calls"] == server.requests < q["exhaustive_calls"]
    assert len(q["rounds"]) == 3 and all({"settled", "group_settled", "queries"} <= set(r) for r in q["rounds"])
    slate = json.loads((tmp_path / "a" / "slate.json").read_text())
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and server.requests == q["calls"]  # zero new calls
    assert json.loads((tmp_path / "a" / "slate.json").read_text()) == slate
    cmd_b, _ = _run(server, data, tmp_path / "b", "--queries", "exhaustive")
    exhaustive = subprocess.run(cmd_b, env=env, capture_output=True, text=True, timeout=300)
    assert exhaustive.returncode == 0, exhaustive.stderr[-2000:]
    assert json.loads((tmp_path / "b" / "audit.json").read_text())["model_usage"]["calls"] == audit["n"] * 10
    bad = subprocess.run(cmd + ["--queries", "sometimes"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--queries" in bad.stderr


def _cached(path: Path) -> int:
    from pnyx.queries.cache import Cache

    with Cache(path) as cache:
        return cache.count()


def test_killed_adaptive_run_resumes_with_zero_repeated_calls_and_the_same_slate(truth, tmp_path):
    server, data = truth
    cmd, env = _run(server, data, tmp_path / "clean", "--cache", str(tmp_path / "clean.sqlite"))
    clean = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr[-2000:]
    calls = json.loads((tmp_path / "clean" / "audit.json").read_text())["queries"]["calls"]
    clean_slate = json.loads((tmp_path / "clean" / "slate.json").read_text())
    server.requests, server.answered = 0, {}
    server.hold_after = calls // 2
    cmd, env = _run(server, data, tmp_path / "killed", "--cache", str(tmp_path / "killed.sqlite"))
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not server.held.wait(timeout=300):
        first.kill()
        raise AssertionError(f"the run never reached call {calls // 2 + 1}: {first.communicate()[1][-2000:]}")
    deadline = time.monotonic() + 60  # every answered call committed to the cache (the rest are held)
    while _cached(tmp_path / "killed.sqlite") < server.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL and 0 < _cached(tmp_path / "killed.sqlite") < calls
    # answers to held requests may still be sent to the dead client (its disconnect can go unseen): they
    # were never received, so only what was answered before the kill counts
    delivered = dict(server.answered)
    server.release()
    time.sleep(0.5)
    server.answered, server.requests = delivered, sum(delivered.values())
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert max(server.answered.values()) == 1  # no request answered twice over both runs
    assert server.requests == calls  # the killed and the resumed run together make the clean run's calls
    assert json.loads((tmp_path / "killed" / "slate.json").read_text()) == clean_slate
