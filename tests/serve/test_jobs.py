"""Jobs from the table, run in-process: a generation round, the process with the default (offline) backend
writing the four outputs of ``pnyx run``, a failure shown on the job, and re-queueing after a restart,
one runner per job, and model queries through the executor (``pnyx serve --executor``)."""

from __future__ import annotations

import csv
import io
import json
import socket

import pytest

from pnyx.queries.executor import Executor
from pnyx.report import OUTPUTS
from pnyx.serve import jobs, service
from pnyx.serve.db import Database
from pnyx.serve.models import OUTPUT_COLUMNS, Consultation, Job, Run

OPINIONS = ["Protected bike lanes on the main roads would make my commute safe. Cars drive far too fast here.",
            "Buses should run later in the evening for shift workers. Fares are too high for students.",
            "We need more parks and trees near home. Children have nowhere safe to play outside.",
            "Libraries should open on Sundays for everyone. They are the only quiet place to study."]


@pytest.fixture
def consultation(sqlite_url):
    db = Database(sqlite_url)
    with db.write() as s:
        c = service.create_consultation(s, question="What should the city do?", k=2, moderation="permissive")
        service.add_statements(s, c, ["Build bike lanes", "Cheaper buses", "More parks", "Open libraries longer"])
        for n, (p, _) in enumerate(service.create_invites(s, c, 4)):
            p.joined_at = service.now()
            service.submit_opinion(s, p, OPINIONS[n])
            service.submit_judgments(s, p, {str(j): (j + n) % 5 for j in range(1, 5) if (j + n) % 3})
        cid = c.id
    yield db, cid
    db.dispose()


def _job(db, cid, kind, **params):
    with db.write() as s:
        return jobs.enqueue(s, s.get(Consultation, cid), kind, params).id


def test_generation_round_and_default_process(consultation):
    db, cid = consultation
    runner = jobs.JobRunner(db)
    runner.run_one(_job(db, cid, "generate"))
    with db.read() as s:
        job = s.scalar(service.select(Job).where(Job.consultation_id == cid))
        assert job.status == "done", job.error
        new = s.scalars(service.select(service.Statement.source).where(
            service.Statement.consultation_id == cid, service.Statement.source.in_(["extractive", "cluster"]))).all()
        assert new and f"{len(new)} new statements" in job.progress
    job_id = _job(db, cid, "process", accuracy=False)  # backend: the default, offline
    runner.run_one(job_id)
    with db.read() as s:
        job = s.get(Job, job_id)
        assert job.status == "done", job.error
        run = s.scalar(service.select(Run).where(Run.consultation_id == cid))
        c = s.get(Consultation, cid)
        profile = service.build_profile(s, c)
    assert job.progress == f"run {run.id}: a slate of 2"
    slate = json.loads(run.slate_json)
    assert slate["k"] == 2 and slate["backend"] == "offline" and len(slate["statements"]) == 2
    rows = list(csv.DictReader(io.StringIO(run.assignment_csv)))
    assert sorted(r["participant"] for r in rows) == sorted(profile.participant_ids)
    audit = json.loads(run.audit_json)
    assert audit["n"] == profile.n and "bjr" in audit
    assert b"<html" in run.report_html
    assert set(OUTPUT_COLUMNS) == set(OUTPUTS)  # every output of `pnyx run` is stored


def test_a_failing_job_records_why_and_a_running_job_is_requeued_at_start(consultation):
    db, cid = consultation
    with db.write() as s:
        s.get(Consultation, cid).k = 50  # more statements than participants
    runner = jobs.JobRunner(db)
    failing = _job(db, cid, "process")
    runner.run_one(failing)
    with db.read() as s:
        job = s.get(Job, failing)
    assert job.status == "failed" and "needs at least 50 participants" in job.error
    with db.write() as s:
        s.get(Job, failing).status = "running"  # as if the server had been killed during it
    assert runner.requeue_interrupted() == 1
    with db.read() as s:
        job = s.get(Job, failing)
    assert job.status == "queued" and job.progress == "resumed after a restart"
    assert runner._claim() == failing
    with db.read() as s:
        assert s.get(Job, failing).attempts == job.attempts + 1 and s.get(Job, failing).status == "running"
    with pytest.raises(service.InputError, match="unknown job"):
        _job(db, cid, "nonsense")


def test_a_job_is_claimed_by_one_runner_only(consultation):
    db, cid = consultation
    job_id = _job(db, cid, "process")
    first, second = jobs.JobRunner(db), jobs.JobRunner(Database(db.url, migrate=False))
    assert first._claim() == job_id
    assert second._claim() is None  # the conditional UPDATE finds it no longer queued
    with db.read() as s:
        assert s.get(Job, job_id).attempts == 1
    second.db.dispose()


class RecordingExecutor(Executor):
    """Answers every model request with a rating of 3 and records the requests (stands where Ray would)."""

    name = "recording"

    def __init__(self):
        self.requests: list[str] = []

    def call(self, config, todo, store, progress=False):
        for key in todo:
            self.requests.append(key)
            store(key, {"choices": [{"index": 0, "text": "3", "message": {"role": "assistant", "content": "3"}}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}, 0)


def test_jobs_run_their_model_queries_through_the_executor(consultation, monkeypatch):
    db, cid = consultation
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nobody listens on: every model call must go to the executor
    monkeypatch.setenv("PNYX_LLM_BASE_URL", f"http://127.0.0.1:{closed.getsockname()[1]}/v1")
    monkeypatch.setenv("PNYX_LLM_MODEL", "test")
    monkeypatch.setenv("PNYX_LLM_CONTEXT", "4096")
    executor = RecordingExecutor()
    runner = jobs.JobRunner(db, executor=executor)
    job_id = _job(db, cid, "process", backend="llm", accuracy=False)
    runner.run_one(job_id)
    closed.close()
    with db.read() as s:
        job = s.get(Job, job_id)
        run = s.scalar(service.select(Run).where(Run.consultation_id == cid))
    assert job.status == "done", job.error
    usage = json.loads(run.audit_json)["model_usage"]
    assert executor.requests and usage["calls"] == len(set(executor.requests))
    # a rerun (a job resumed after a restart) answers from the cache: the executor gets nothing new
    before = len(executor.requests)
    runner.run_one(_job(db, cid, "process", backend="llm", accuracy=False))
    assert len(executor.requests) == before


def test_serve_checks_its_executor_options_before_starting(tmp_path):
    from typer.testing import CliRunner

    from pnyx.cli import app

    runner = CliRunner()
    for args, message in ((["--ray-address", "127.0.0.1:1"], "--ray-address needs --executor ray"),
                          (["--executor", "nowhere"], "unknown executor"),
                          (["--chooser", "best"], "unknown chooser 'best'; known: least-rated, planner, random")):
        out = runner.invoke(app, ["serve", "--db", str(tmp_path / "x.db"), *args])
        assert out.exit_code == 2 and message in out.output, out.output
        assert "Traceback" not in out.output
