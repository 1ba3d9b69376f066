"""``pnyx serve --executor ray --ray-address``: an organiser's jobs run their model queries on a real local
Ray cluster (tests/raycluster.py: a head and two worker nodes on 127.0.0.1) against a loopback endpoint.

The same consultation, built over HTTP, is processed once by a server with the local executor and once
by a server on the cluster: the calls of the second come from Ray worker processes, never from the
server; the server killed mid-job resumes the job on the cluster, asking again only what its one cache
had not stored; the run equals the local one; a rerun asks nothing. A cluster address where nothing
listens fails the job at once with the reason on the organiser's dashboard.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import time

import pytest

from pnyx.queries.cache import canonical_json
from raycluster import Endpoint, prompt_of
from serving import Client, LiveServer, invite_links, new_consultation, organiser, wait_for_job

pytest.importorskip("ray", reason="the Ray tests need pnyx[ray] (bash scripts/install.sh --dev installs it)")

SEEDS = ["Build protected bike lanes on the main roads", "Make buses cheaper for students",
         "Plant more trees in every street", "Open the libraries on Sundays", "Add benches and shade in parks",
         "Keep the swimming pool open in winter"]
OPINIONS = ["Cars drive far too fast near the school.", "Buses stop running before my shift ends.",
            "Children have nowhere safe to play outside.", "I need a quiet place to study at weekends.",
            "The summer heat in the square is unbearable.", "Sport for everyone should be cheap.",
            "Cycling to work feels dangerous every day.", "Older people need places to sit and rest."]
NAMESPACE = "openai:chat"  # the cache's namespace of chat completions (pnyx.queries.client)


def answer(body: dict) -> tuple[tuple, str]:
    """One key per request (its canonical JSON: what the cache keys, less the backend name); a rating
    prompt gets a level fixed by its text, a generative one a statement fixed by its text."""
    digest = hashlib.sha256(canonical_json(body).encode()).hexdigest()
    prompt = prompt_of(body)
    level = int(hashlib.sha256(prompt.encode()).hexdigest(), 16)
    if "<statement>" in prompt:
        return ("rating", digest), str(level % 5)
    return ("generation", digest), f"The city should act on idea number {level % 3} for everyone."


@pytest.fixture(scope="module")
def llm():
    server = Endpoint(latency=0.05, answer=answer, callers=True)
    yield server
    server.stop()


def env_for(llm: Endpoint) -> dict[str, str]:
    return {"PNYX_LLM_BASE_URL": llm.base_url, "PNYX_LLM_MODEL": "matrix", "PNYX_LLM_CONTEXT": "4096",
            "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def consultation(server: LiveServer, people: int = len(OPINIONS)) -> tuple[Client, int]:
    """``people`` participants write an opinion and rate a fixed part of the six seeds (the same every time)."""
    org = organiser(server)
    cid = new_consultation(org, SEEDS, moderation="permissive")
    for i, link in enumerate(invite_links(org, cid, people)):
        p = Client(server)
        assert p.open(link).status_code == 200
        assert p.post("/me/opinion", {"opinion": OPINIONS[i]}).status_code == 200
        ratings = {f"j-{s}": str((i * s) % 5) for s in range(1, len(SEEDS) + 1) if (i + s) % 3}
        r = p.post("/me/judgments", ratings, headers={"Accept": "application/json"})
        assert r.status_code == 200 and r.json() == {"saved": len(ratings)}, r.text
        p.close()
    return org, cid


def job(org: Client, cid: int, kind: str, timeout: float = 60) -> str:
    """The organiser's "Run the process" (the llm backend, no accuracy measurement) or "Run a generation
    round", waited for; the job's row on the dashboard."""
    form = {"kind": "process", "backend": "llm"} if kind == "process" else {"kind": "generate"}
    assert org.post(f"/admin/c/{cid}/jobs", form).status_code == 200
    return wait_for_job(org, cid, timeout=timeout)


def run_files(org: Client, cid: int, run: int) -> tuple[dict, str, dict]:
    get = lambda name: org.http.get(f"/admin/c/{cid}/runs/{run}/{name}")  # noqa: E731
    return get("slate.json").json(), get("assignment.csv").text, get("audit.json").json()


def statements(server: LiveServer, cid: int) -> list[tuple]:
    with sqlite3.connect(server.db) as db:
        return db.execute("SELECT sid, text, source, status FROM statements WHERE consultation_id = ? ORDER BY id",
                          (cid,)).fetchall()


def cached(server: LiveServer, cid: int) -> int:
    """Chat completions stored in the consultation's one cache (the file beside the database), or 0."""
    path = server.folder / "pnyx.db.files" / f"cache-consultation-{cid}.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=30) as db:
        return db.execute("SELECT count(*) FROM entries WHERE namespace = ?", (NAMESPACE,)).fetchone()[0]


def group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def merged(callers: dict, llm: Endpoint) -> dict:
    """``callers`` plus the endpoint's callers since its last reset (pid → [calls, parent pid, title])."""
    out = {pid: list(v) for pid, v in callers.items()}
    for pid, (n, parent, title) in llm.callers.items():
        out.setdefault(pid, [0, parent, title])[0] += n
    return out


def without_usage(audit: dict) -> dict:
    return {k: v for k, v in audit.items() if k != "model_usage"}


def test_jobs_run_on_the_cluster_resume_from_the_cache_and_match_local(ray_cluster, llm, tmp_path):
    (tmp_path / "local").mkdir()
    (tmp_path / "ray").mkdir()
    env = env_for(llm)

    # the reference: the local executor (the server makes the calls itself)
    local = LiveServer(str(tmp_path / "local" / "pnyx.db"), tmp_path / "local", env=env).start()
    try:
        org, cid = consultation(local)
        outcome = job(org, cid, "generate")
        assert outcome.startswith("done") and "new statements (extractive, cluster, llm)" in outcome, outcome
        generated, expected_statements = set(llm.calls), statements(local, cid)
        assert generated and all(kind == "generation" for kind, _ in generated)
        llm.reset()
        outcome = job(org, cid, "process")
        assert outcome.startswith("done"), outcome + local.log()[-3000:]
        expected = run_files(org, cid, 1)
        asked = set(llm.calls)
        assert max(llm.calls.values()) == 1 and expected[2]["model_usage"]["calls"] == len(asked)
        assert set(llm.callers) == {local.proc.pid}
    finally:
        local.stop()
    assert any(kind == "rating" for kind, _ in asked)

    # the same consultation on a server whose jobs send their model queries to the cluster
    llm.reset()
    server = LiveServer(str(tmp_path / "ray" / "pnyx.db"), tmp_path / "ray", env=env,
                        args=["--executor", "ray", "--ray-address", ray_cluster.address]).start()
    try:
        org, cid = consultation(server)
        outcome = job(org, cid, "generate")  # a generation round on the cluster: the local round's statements
        assert outcome.startswith("done"), outcome + server.log()[-3000:]
        assert set(llm.calls) == generated and max(llm.calls.values()) == 1
        assert statements(server, cid) == expected_statements
        callers, calls = merged({}, llm), llm.total
        llm.reset()
        llm.latency = 0.5  # slow enough to kill the server between two answers
        round_answers = cached(server, cid)
        assert org.post(f"/admin/c/{cid}/jobs", {"kind": "process", "backend": "llm"}).status_code == 200
        deadline = time.monotonic() + 60
        while not 0 < cached(server, cid) - round_answers < llm.total:  # some stored, more in flight
            assert time.monotonic() < deadline and server.proc.poll() is None, server.log()[-3000:]
            time.sleep(0.05)
        drivers = {server.proc.pid}
        server.kill()  # SIGKILL of the Ray driver mid-job: Ray ends its tasks on the workers
        deadline = time.monotonic() + 30
        while ray_cluster.worker_pids():
            assert time.monotonic() < deadline, "the dead server's tasks still run"
            time.sleep(0.1)
        time.sleep(2 * llm.latency)  # the endpoint finishes the calls in flight at the kill (answers lost)
        before, stored = set(llm.calls), cached(server, cid) - round_answers
        assert 0 < stored < len(before) < len(asked), (stored, len(before), len(asked))
        callers, calls = merged(callers, llm), calls + llm.total
        llm.reset()
        llm.latency = 0.05
        server.start()  # the interrupted job is queued again and resumes on the cluster
        drivers.add(server.proc.pid)
        org = Client(server)
        org.open(server.admin_link)
        outcome = wait_for_job(org, cid, timeout=90)
        assert outcome.startswith("done") and "attempt 2" in outcome, outcome + server.log()[-3000:]
        again = set(llm.calls)
        # the one cache: exactly the calls not stored when the server died are asked again, each once
        assert max(llm.calls.values()) == 1
        assert len(before & again) == len(before) - stored
        assert before | again == asked  # the local run's queries, no others
        slate, assignment, audit = run_files(org, cid, 1)
        assert (slate, assignment, without_usage(audit)) == (expected[0], expected[1], without_usage(expected[2]))
        reused = expected[2]["model_usage"]["cached"]  # the process asks some of the round's queries again
        assert audit["model_usage"]["calls"] == len(again) and audit["model_usage"]["cached"] == stored + reused

        callers, calls = merged(callers, llm), calls + llm.total
        llm.reset()  # a rerun: every query was answered, so not one call
        outcome = job(org, cid, "process")
        assert outcome.startswith("done"), outcome
        assert llm.total == 0
        slate, _, audit = run_files(org, cid, 2)
        assert slate == expected[0] and audit["model_usage"]["calls"] == 0
        assert audit["model_usage"]["cached"] == len(asked) + reused
        server.proc.terminate()  # a server connected to the cluster stops on SIGTERM like any other
        server.proc.wait(15)  # (uvicorn re-raises the signal after its graceful shutdown: the code is -15)
    finally:
        server.stop()
    # every call came from a Ray worker process (``ray::<task>``) that the raylet of a worker node started
    # (the head has no CPUs), none from the server
    assert callers and not drivers & set(callers)
    assert all(title.startswith("ray::") for _, _, title in callers.values()), callers
    nodes = {group_of(parent) for _, parent, _ in callers.values()}
    assert nodes <= set(ray_cluster.groups[1:]), (callers, ray_cluster.groups)
    assert sum(n for n, _, _ in callers.values()) == calls  # each call's process was found


def test_an_unreachable_cluster_fails_the_job_with_its_reason(llm, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: no Ray head there
    server = LiveServer(str(tmp_path / "pnyx.db"), tmp_path, env=env_for(llm),
                        args=["--executor", "ray", "--ray-address", f"127.0.0.1:{port}"]).start()
    try:
        org, cid = consultation(server, people=3)
        llm.reset()
        start = time.monotonic()
        outcome = job(org, cid, "process")
        assert time.monotonic() - start < 30
        assert outcome.startswith("failed"), outcome
        shown = org.http.get(f"/admin/c/{cid}/live").text.replace("&#39;", "'")
        assert f"RayUnavailable: cannot reach the Ray cluster at '127.0.0.1:{port}'" in shown, shown
        assert llm.total == 0
        assert server.proc.poll() is None  # the server goes on
    finally:
        server.stop()
