"""Jobs run in the server's own process, from the ``jobs`` table: no separate worker to fall over.

A job is queued by a row; :class:`JobRunner` (one thread) claims queued rows in order, runs them and
records progress and failures on the row, which the dashboard shows. A job found ``running`` at start
was interrupted by a restart: it is queued again, and reruns from the model-call cache
(:class:`pnyx.queries.cache.Cache`, one SQLite file per consultation beside the database), so model
calls already made are not repeated. A job is claimed by a conditional UPDATE, so two runners on one
database never run the same job; ``pnyx serve --workers N`` runs one runner, in the parent process.
Model queries run where ``executor`` says (:mod:`pnyx.queries.executor`: ``local`` or ``ray``), as in
``pnyx run --executor``.

Kinds: ``generate`` (a generation round: the :mod:`pnyx.queries` generators propose statements for all
participants, which enter the moderation queue) and ``process`` (the whole process, whose four outputs
are stored as a run).
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select, update

from pnyx.serve import service
from pnyx.serve.db import Database
from pnyx.serve.models import Consultation, Job, now

KINDS = ("generate", "process")
BACKENDS = ("offline", "cf", "text", "similarity", "hybrid", "llm")
"""The discriminative backends offered on the dashboard (any registered name is accepted)."""


def default_generators() -> list[str]:
    """Sentences from the opinions and cluster representatives offline; plus the LLM when one is configured."""
    from pnyx.queries.client import LLMConfig

    cfg = LLMConfig.from_env()
    return ["extractive", "cluster"] + (["llm"] if cfg.base_url and cfg.model else [])


def enqueue(s, c: Consultation, kind: str, params: dict[str, Any] | None = None) -> Job:
    if kind not in KINDS:
        raise service.InputError(f"unknown job {kind!r}; known: {', '.join(KINDS)}", field="kind")
    job = Job(consultation_id=c.id, kind=kind, params=json.dumps(params or {}))
    s.add(job)
    s.flush()
    return job


class JobRunner:
    """The thread that runs queued jobs one at a time."""

    def __init__(self, db: Database, *, poll: float = 1.0, executor: Any = None):
        self.db, self.poll, self.executor = db, poll, executor
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def requeue_interrupted(self) -> int:
        """Queue again the jobs left ``running`` by a server that stopped (killed) during them."""
        with self.db.write() as s:
            return s.execute(update(Job).where(Job.status == "running")
                             .values(status="queued", progress="resumed after a restart")).rowcount

    def start(self) -> None:
        self.requeue_interrupted()
        self._thread = threading.Thread(target=self._loop, name="pnyx-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _claim(self) -> int | None:
        """The oldest queued job, marked running by a conditional UPDATE (``… WHERE status = 'queued'``), so that
        of several runners on one database exactly one gets it."""
        with self.db.write() as s:
            for job_id in s.scalars(select(Job.id).where(Job.status == "queued").order_by(Job.id).limit(5)):
                claimed = s.execute(update(Job).where(Job.id == job_id, Job.status == "queued")
                                    .values(status="running", started_at=now(), attempts=Job.attempts + 1,
                                            error=None)).rowcount
                if claimed:
                    return job_id
            return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._claim()
            except Exception:  # noqa: BLE001 - the database may be briefly unavailable; try again
                job_id = None
            if job_id is None:
                self._wake.wait(self.poll)
                self._wake.clear()
                continue
            self.run_one(job_id)

    def run_one(self, job_id: int) -> None:
        last = [0.0]

        def progress(phase: str, done: int, total: int) -> None:
            if time.monotonic() - last[0] < 0.3 and done < total:
                return
            last[0] = time.monotonic()
            with self.db.write() as s:
                s.get(Job, job_id).progress = f"{phase} {done}/{total}"

        with self.db.read() as s:
            job = s.get(Job, job_id)
            kind, cid, params = job.kind, job.consultation_id, json.loads(job.params or "{}")
        try:
            work: Callable[..., str] = {"generate": self._generate, "process": self._process}[kind]
            message = work(job_id, cid, params, progress)
        except Exception as exc:  # noqa: BLE001 - a failed job is shown on the dashboard, the server goes on
            with self.db.write() as s:
                j = s.get(Job, job_id)
                j.status, j.finished_at = "failed", now()
                j.error = f"{type(exc).__name__}: {exc}"[:2000]
                j.progress = traceback.format_exc(limit=3)[-2000:]
            return
        with self.db.write() as s:
            j = s.get(Job, job_id)
            j.status, j.finished_at, j.progress = "done", now(), message

    def cache_path(self, cid: int) -> Path:
        return self.db.data_dir / f"cache-consultation-{cid}.sqlite"

    def _generate(self, job_id: int, cid: int, params: dict[str, Any], progress) -> str:
        from pnyx.queries import get_generative
        from pnyx.queries.cache import Cache

        with self.db.read() as s:
            c = s.get(Consultation, cid)
            profile = service.build_profile(s, c)
            k, seed = c.k, c.seed
        if profile.n == 0 or not any(p.answers for p in profile.participants):
            raise service.InputError("no opinions yet to generate statements from")
        names = params.get("generators") or default_generators()
        shared = {"cache": Cache(self.cache_path(cid)), "seed": seed, "executor": self.executor}
        rows = list(range(profile.n))
        texts: dict[str, str] = {}
        for a, name in enumerate(names):
            progress("generate", a, len(names))
            gen = get_generative(name, shared, **({"source": "sentences"} if name == "extractive" else {}))
            for cand in gen.generate(profile, rows, size_target=math.ceil(profile.n / k), seed=seed):
                if cand.statement_id is None:
                    texts.setdefault(cand.text, name)
        progress("generate", len(names), len(names))
        with self.db.write() as s:
            c = s.get(Consultation, cid)
            status = "pending" if c.moderation == "strict" else "approved"
            added = []
            for name in dict.fromkeys(texts.values()):
                added += service.add_statements(s, c, [t for t, g in texts.items() if g == name], source=name,
                                                status=status)
        return f"{len(added)} new statements ({', '.join(names)})"

    def _process(self, job_id: int, cid: int, params: dict[str, Any], progress) -> str:
        from pnyx.pipeline import run as run_pipeline
        from pnyx.process import ProcessOptions
        from pnyx.queries.cache import Cache
        from pnyx.report import write_outputs

        with self.db.read() as s:
            c = s.get(Consultation, cid)
            profile = service.build_profile(s, c)
            k, budget, seed, question = c.k, c.word_budget, c.seed, c.question
        if profile.n < k:
            raise service.InputError(f"a slate of {k} needs at least {k} participants; there are {profile.n}")
        if not profile.observed.any():
            raise service.InputError("no judgments yet")
        run = run_pipeline(profile, k, backend=params.get("backend", "offline"),
                           options=ProcessOptions(budget=budget, seed=seed), cache=Cache(self.cache_path(cid)),
                           executor=self.executor, measure_accuracy=params.get("accuracy", True), progress=progress)
        progress("report", 0, 1)
        with tempfile.TemporaryDirectory() as tmp:
            write_outputs(run, tmp, title=question)
            with self.db.write() as s:
                r = service.save_run(s, s.get(Consultation, cid), Path(tmp), job_id)
        return f"run {r.id}: a slate of {len(run.result.slate)}"
