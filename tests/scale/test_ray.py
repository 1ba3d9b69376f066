"""Model queries on a real Ray cluster: the same slate as local, a SIGKILLed worker loses no finished
query, an unreachable endpoint fails fast with a clear message."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from pnyx.data import Participant, Profile, Statement
from pnyx.pipeline import run
from pnyx.process import ProcessOptions
from pnyx.queries.cache import Cache
from pnyx.queries.executor import EndpointUnreachable, RayExecutor

from raycluster import SRC, rating

pytest.importorskip("ray", reason="the Ray tests need pnyx[ray] (bash scripts/install.sh --dev installs it)")


def consultation(n: int, m: int, seed: int = 0) -> Profile:
    """n participants, m statements, a seeded third of the ratings observed (from the endpoint's matrix)."""
    rng = np.random.default_rng(seed)
    participants = [Participant(f"p{i}", {"q": f"I am participant p{i}."}) for i in range(n)]
    statements = [Statement(f"s{j}", f"s{j} is what we should do according to statement number {j}.") for j in range(m)]
    profile = Profile.from_judgments(participants, statements, [], "rating")
    U = np.array([[rating(p.id, s.id) for s in statements] for p in participants], dtype=float)
    seen = rng.random((n, m)) < 1 / 3
    profile.utilities[seen] = U[seen]
    profile.observed[seen] = True
    profile.provenance[seen] = 0
    return profile


@pytest.fixture
def llm_env(endpoint, monkeypatch):
    monkeypatch.setenv("PNYX_LLM_BASE_URL", endpoint.base_url)
    monkeypatch.setenv("PNYX_LLM_MODEL", "matrix")
    endpoint.reset()
    return endpoint


def process(profile, cache, executor, k=3):
    return run(profile, k, backend="llm", generators=["extractive"], options=ProcessOptions(seed=7), cache=cache,
               executor=executor, measure_accuracy=False,
               queries="exhaustive")  # every pair asked: the executor does the work


def test_same_slate_as_local(ray_cluster, llm_env, tmp_path):
    profile = consultation(24, 6)
    pairs = profile.n * profile.m  # the llm backend is asked for every pair (observed judgments still win)
    local = process(profile, Cache(tmp_path / "local.sqlite"), "local")
    assert llm_env.total == pairs
    llm_env.reset()
    remote = process(profile, Cache(tmp_path / "ray.sqlite"), RayExecutor(ray_cluster.address, batch_size=8))
    assert remote.result.slate == local.result.slate
    assert remote.result.matching.tolist() == local.result.matching.tolist()
    np.testing.assert_array_equal(remote.result.utilities, local.result.utilities)
    # every pair was asked once, on the workers, and came back to the driver's one cache
    assert llm_env.total == pairs and max(llm_env.calls.values()) == 1
    assert remote.audit.model_usage["calls"] == pairs
    with Cache(tmp_path / "ray.sqlite") as cache:
        assert cache.count() == pairs


def test_killed_worker_loses_no_finished_query(ray_cluster, llm_env, tmp_path):
    profile = consultation(60, 6, seed=1)
    pairs = profile.n * profile.m
    executor = RayExecutor(ray_cluster.address, batch_size=6)
    killed: list[int] = []

    def kill_one_worker_mid_run():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            pids = ray_cluster.worker_pids() if llm_env.total >= pairs // 4 else []
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker_mid_run)
    killer.start()
    first = process(profile, Cache(tmp_path / "cache.sqlite"), executor)  # the executor resubmits the lost batch
    killer.join()
    assert killed, "no worker was running a batch when a quarter of the calls had arrived"
    repeated = {pair: c for pair, c in llm_env.calls.items() if c > 1}
    # only calls in flight in the killed worker (its batch's concurrency) could be asked twice
    assert len(repeated) <= 4 and set(repeated.values()) <= {2}
    assert set(llm_env.calls) == {(p.id, s.id) for p in profile.participants for s in profile.statements}
    with Cache(tmp_path / "cache.sqlite") as cache:
        assert cache.count() == pairs

    llm_env.reset()  # the rerun: every pair was answered, so not one call
    again = process(profile, Cache(tmp_path / "cache.sqlite"), executor)
    assert llm_env.total == 0 and again.audit.model_usage["cached"] == pairs
    assert again.result.slate == first.result.slate


def test_unreachable_endpoint_fails_fast(ray_cluster, monkeypatch, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    monkeypatch.setenv("PNYX_LLM_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("PNYX_LLM_MODEL", "matrix")
    start = time.time()
    with pytest.raises(EndpointUnreachable, match=rf"cannot connect to the model endpoint http://127.0.0.1:{port}/v1"):
        process(consultation(6, 3), Cache(tmp_path / "c.sqlite"), RayExecutor(ray_cluster.address))
    assert time.time() - start < 30


def test_unreachable_cluster_fails_fast():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # a fresh driver (this test process already joined the test cluster)
    code = "import sys; from pnyx.queries.executor import RayExecutor; RayExecutor(sys.argv[1], connect_timeout=2).connect()"
    start = time.time()
    out = subprocess.run([sys.executable, "-c", code, f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": SRC})
    assert out.returncode != 0 and f"RayUnavailable: cannot reach the Ray cluster at '127.0.0.1:{port}'" in out.stderr
    assert time.time() - start < 30


def write_csv_folder(profile: Profile, folder) -> None:
    folder.mkdir()
    (folder / "opinions.csv").write_text("participant_id,text\n" + "".join(
        f"{p.id},{p.answers['q']}\n" for p in profile.participants))
    (folder / "statements.csv").write_text("statement_id,text\n" + "".join(
        f"{s.id},{s.text}\n" for s in profile.statements))
    rows, cols = np.nonzero(profile.observed)
    (folder / "judgments.csv").write_text("participant_id,statement_id,rating\n" + "".join(
        f"{profile.participants[i].id},{profile.statements[j].id},{int(profile.utilities[i, j])}\n"
        for i, j in zip(rows, cols)))


def test_cli_flags(ray_cluster, llm_env, tmp_path):
    profile = consultation(12, 4, seed=2)
    data = tmp_path / "data"
    write_csv_folder(profile, data)
    env = {**os.environ, "PYTHONPATH": SRC, "RAY_AUTH_MODE": "disabled"}
    cmd = [sys.executable, "-m", "pnyx.cli", "run", str(data), "-k", "2", "--backend", "llm", "--generators",
           "extractive", "--no-accuracy", "--seed", "7"]
    outs = {}
    for name, extra in (("local", []), ("ray", ["--executor", "ray", "--ray-address", ray_cluster.address])):
        done = subprocess.run([*cmd, "--out", str(tmp_path / name), *extra], capture_output=True, text=True, env=env,
                              timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        outs[name] = json.loads((tmp_path / name / "slate.json").read_text())["statements"]
    assert [s["id"] for s in outs["ray"]] == [s["id"] for s in outs["local"]]
    bad = subprocess.run([*cmd, "--out", str(tmp_path / "bad"), "--ray-address", ray_cluster.address],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "--ray-address needs --executor ray" in bad.stderr
