"""Load test of ``pnyx serve`` over loopback: simulated participants join, write, and judge concurrently.

Each of ``--participants`` (200) simulated participants opens their invite link, writes one opinion and
casts ``--judgments`` (30) judgments, one POST per judgment, on the statements the server's chooser offers
(``GET /me/batch``, 5 at a time), all participants at once. The server is ``pnyx serve`` in its own
process (SQLite file, then a PostgreSQL server started from Debian's package). After the load, the
database is read directly: every acknowledged submission must be there (lost = 0) and none twice.

The same load is then run with a SIGKILL of the server in the middle (when half the judgments are
acknowledged) and an immediate restart; clients retry what was not acknowledged, as a browser would.

Baseline, same run: the same concurrency fetching ``/`` (a page that touches no database) — the HTTP
stack's own ceiling on this machine. Bounded: fixed counts, loopback only, a deadline per scenario.

    PYTHONPATH=src .venv/bin/python benchmarks/serve.py [--participants 200] [--judgments 30] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "serve")]

from pgcluster import pg_cluster  # noqa: E402
from serving import LiveServer  # noqa: E402

from pnyx.serve import service  # noqa: E402
from pnyx.serve.db import Database  # noqa: E402
from pnyx.serve.models import Judgment, Participant, Statement  # noqa: E402

SEEDS = 60


class Closed(Exception):
    """The connection failed or the server went away."""


class RawClient:
    """A minimal keep-alive HTTP/1.1 client over asyncio streams with one cookie jar: a general client
    (httpx) costs more CPU per request than the server does, and would measure itself."""

    def __init__(self, port: int):
        self.port, self.cookies = port, {}
        self.reader = self.writer = None

    async def request(self, method: str, path: str, form: dict | None = None,
                      headers: dict | None = None) -> tuple[int, dict[str, str], str]:
        body = urlencode(form or {}).encode()
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
        if form is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded")
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await self.writer.drain()
            head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            fields: dict[str, str] = {}
            for line in head[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    k = k.strip().lower()
                    if k == "set-cookie":
                        name, value = v.strip().split(";", 1)[0].split("=", 1)
                        self.cookies[name] = value
                    fields[k] = v.strip()
            text = (await self.reader.readexactly(int(fields.get("content-length", 0)))).decode()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            await self.close()
            raise Closed(str(exc)) from None
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return int(head[0].split()[1]), fields, text

    async def get(self, path: str, **kw):
        status, fields, text = await self.request("GET", path, **kw)
        if status in (302, 303):
            return await self.get(fields["location"])
        return status, fields, text

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


@dataclass
class Outcome:
    acked: dict[int, dict[str, float]] = field(default_factory=dict)
    """participant number → statement id → value acknowledged."""
    opinions: set[int] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    """Seconds per judgment POST (the successful attempt)."""
    first: float = float("inf")
    last: float = 0.0
    retries: int = 0
    errors: list[str] = field(default_factory=list)


def prepare(url: str, n: int) -> tuple[int, list[str]]:
    db = Database(url)
    with db.write() as s:
        c = service.create_consultation(s, question="How should the city spend its budget?", k=5,
                                        moderation="permissive", max_chars=300)
        service.add_statements(s, c, [f"Seed statement {j}: the city should fund project number {j}"
                                      for j in range(1, SEEDS + 1)])
        tokens = [token for _, token in service.create_invites(s, c, n)]
        cid = c.id
    db.dispose()
    return cid, tokens


async def _retrying(outcome: Outcome, deadline: float, send):
    """``await send()`` until the answer is not an error (the server may be down for a restart)."""
    while True:
        try:
            status, fields, text = await send()
            if status < 400:
                return text
            outcome.errors.append(f"{status}: {text[:120]}")
            if status < 500:
                raise RuntimeError(outcome.errors[-1])
        except Closed:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("deadline passed")
        outcome.retries += 1
        await asyncio.sleep(0.2)


async def participant(port: int, token: str, judgments: int, outcome: Outcome, deadline: float, a: int) -> None:
    c = RawClient(port)
    try:
        page = await _retrying(outcome, deadline, lambda: c.get(f"/i/{token}"))
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        number = int(re.search(r"participant (\d+)\.", page).group(1))
        mine = outcome.acked.setdefault(number, {})
        head = {"Accept": "application/json", "X-CSRF-Token": csrf}
        opinion = {"opinion": f"Participant {number} thinks the budget should go to buses and parks, reason {a}."}
        await _retrying(outcome, deadline, lambda: c.request("POST", "/me/opinion", opinion, head))
        outcome.opinions.add(number)
        while len(mine) < judgments:
            batch = await _retrying(outcome, deadline, lambda: c.get("/me/batch"))
            sids = [s for s in dict.fromkeys(re.findall(r'name="j-(\d+)"', batch)) if s not in mine]
            if not sids:
                break
            for sid in sids[: judgments - len(mine)]:
                value = (int(sid) * 7 + number) % 5
                t0 = time.monotonic()
                answer = await _retrying(outcome, deadline, lambda: c.request("POST", "/me/judgments",
                                                                               {f"j-{sid}": str(value)}, head))
                t1 = time.monotonic()
                if answer != '{"saved":1}':
                    raise RuntimeError(f"unexpected answer {answer[:100]}")
                mine[sid] = float(value)  # acknowledged: committed by the server
                outcome.latencies.append(t1 - t0)
                outcome.first, outcome.last = min(outcome.first, t0), max(outcome.last, t1)
    finally:
        await c.close()


async def load(port: int, tokens: list[str], judgments: int, seconds: float, kill=None) -> Outcome:
    outcome = Outcome()
    deadline = time.monotonic() + seconds
    tasks = [asyncio.create_task(participant(port, t, judgments, outcome, deadline, a)) for a, t in enumerate(tokens)]
    if kill is not None:
        tasks.append(asyncio.create_task(kill(outcome)))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    outcome.errors += [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    return outcome


async def baseline(port: int, n: int, requests: int) -> tuple[float, list[float]]:
    lat: list[float] = []

    async def one():
        c = RawClient(port)
        for _ in range(requests):
            t0 = time.monotonic()
            status, _, _ = await c.get("/")
            assert status == 200
            lat.append(time.monotonic() - t0)
        await c.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(n)))
    return len(lat) / (time.monotonic() - t0), lat


async def per_request(port: int, pid: int, token: str, n: int = 300) -> dict[str, tuple[float, float]]:
    """One client, requests one after another: server CPU ms and wall ms per request, by kind."""
    c = RawClient(port)
    page = (await c.get(f"/i/{token}"))[2]
    head = {"Accept": "application/json", "X-CSRF-Token": re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)}
    sids = itertools.count()
    kinds = {"GET / (no database)": lambda: c.get("/"),
             "POST one judgment": lambda: c.request("POST", "/me/judgments", {f"j-{next(sids) % SEEDS + 1}": "3"}, head),
             "GET /me/batch (5 statements)": lambda: c.get("/me/batch")}
    out = {}
    for name, send in kinds.items():
        await send()
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        for _ in range(n):
            status, _, text = await send()
            assert status == 200, text[:200]
        out[name] = ((cpu_seconds(pid) - cpu0) / n * 1000, (time.monotonic() - t0) / n * 1000)
    await c.close()
    return out


def verify(url: str, cid: int, outcome: Outcome) -> dict[str, int]:
    """Read the database directly: acknowledged submissions missing (lost) or stored twice (duplicated)."""
    from sqlalchemy import func, select

    db = Database(url, migrate=False)
    with db.read() as s:
        rows = s.execute(select(Participant.number, Statement.sid, Judgment.value)
                         .join(Participant, Participant.id == Judgment.participant_id)
                         .join(Statement, Statement.id == Judgment.statement_id)
                         .where(Judgment.consultation_id == cid)).all()
        authored = s.execute(select(Participant.number, func.count(Statement.id))
                             .join(Statement, Statement.author_id == Participant.id)
                             .where(Participant.consultation_id == cid).group_by(Participant.number)).all()
    db.dispose()
    stored: dict[tuple[int, str], list[float]] = {}
    for number, sid, value in rows:
        stored.setdefault((number, sid), []).append(value)
    opinions = dict(authored)
    acked = [(n, sid, v) for n, m in outcome.acked.items() for sid, v in m.items()]
    return {
        "acked": len(acked),
        "lost": sum(stored.get((n, sid), [None])[-1] != v for n, sid, v in acked),
        "duplicated": sum(len(v) - 1 for v in stored.values()) + sum(max(0, c - 1) for c in opinions.values()),
        "opinions_acked": len(outcome.opinions),
        "opinions_lost": sum(n not in opinions for n in outcome.opinions),
        "stored": len(stored),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scenario(name: str, url: str, folder: Path, args, *, kill: bool) -> dict:
    cid, tokens = prepare(url, args.participants + 1)
    tokens, spare = tokens[:-1], tokens[-1]
    server = LiveServer(url, folder).start()
    killed = {}

    async def killer(outcome: Outcome):
        target = args.participants * args.judgments // 2
        while sum(map(len, outcome.acked.values())) < target:
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        server.kill()
        killed["at"] = sum(map(len, outcome.acked.values()))
        await asyncio.to_thread(server.start)
        killed["down"] = time.monotonic() - t0

    try:
        base_rate, base_lat = (asyncio.run(baseline(server.port, args.participants, 10)) if not kill
                               else (None, []))
        sequential = None if kill else asyncio.run(per_request(server.port, server.proc.pid, spare))
        cpu0, client0 = cpu_seconds(server.proc.pid), time.process_time()
        outcome = asyncio.run(load(server.port, tokens, args.judgments, args.seconds, killer if kill else None))
        server_cpu = None if kill else cpu_seconds(server.proc.pid) - cpu0
        client_cpu = time.process_time() - client0
    finally:
        server.stop()
    checked = verify(url, cid, outcome)
    lat = np.asarray(outcome.latencies) * 1000
    elapsed = outcome.last - outcome.first
    return {"name": name, "kill": kill, **checked, "errors": outcome.errors, "retries": outcome.retries,
            "rate": len(lat) / elapsed if elapsed > 0 else 0.0, "p50": float(np.percentile(lat, 50)) if len(lat) else 0,
            "p99": float(np.percentile(lat, 99)) if len(lat) else 0, "elapsed": elapsed, **killed,
            "server_cpu_ms": None if server_cpu is None else server_cpu / max(1, len(lat)) * 1000,
            "sequential": sequential, "client_cpu_ms": client_cpu / max(1, len(lat)) * 1000, "load": os.getloadavg()[0],
            "baseline_rate": base_rate, "baseline_p50": float(np.percentile(base_lat, 50) * 1000) if base_lat else None,
            "baseline_p99": float(np.percentile(base_lat, 99) * 1000) if base_lat else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--participants", type=int, default=200)
    ap.add_argument("--judgments", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=240, help="deadline per scenario")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kill in (False, True):
            folder = Path(tmp) / f"sqlite-{kill}"
            folder.mkdir()
            rows.append(scenario("SQLite (WAL)", str(folder / "pnyx.db"), folder, args, kill=kill))
        if not args.no_postgres:
            with pg_cluster() as cluster:
                for kill in (False, True):
                    folder = Path(tmp) / f"pg-{kill}"
                    folder.mkdir()
                    rows.append(scenario("PostgreSQL", cluster.new_database(), folder, args, kill=kill))
    print(f"{args.participants} participants × (join, 1 opinion, {args.judgments} judgments, one POST each), all at "
          f"once over loopback · {platform.machine()} · Python {platform.python_version()}\n")
    print("| database | SIGKILL mid-load | judgments acknowledged | lost | duplicated | opinions lost | "
          "judgments/s | p50 ms | p99 ms | client retries | server CPU ms per judgment | client CPU ms per judgment | "
          "load average |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        kill = f"yes (at {r['at']}, down {r['down']:.1f} s)" if r["kill"] else "no"
        server_cpu = "" if r["server_cpu_ms"] is None else f"{r['server_cpu_ms']:.1f}"
        print(f"| {r['name']} | {kill} | {r['acked']} | {r['lost']} | {r['duplicated']} | {r['opinions_lost']} | "
              f"{r['rate']:.0f} | {r['p50']:.0f} | {r['p99']:.0f} | {r['retries']} | {server_cpu} | "
              f"{r['client_cpu_ms']:.1f} | {r['load']:.1f} |")
    print("\nbaseline, same concurrency, GET / (no database):\n")
    print("| server | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for r in rows:
        if r["baseline_rate"] is not None:
            print(f"| {r['name']} | {r['baseline_rate']:.0f} | {r['baseline_p50']:.0f} | {r['baseline_p99']:.0f} |")
    print("\none client, one request after another (300 each):\n")
    print("| server | request | server CPU ms | wall ms |")
    print("|---|---|---|---|")
    for r in rows:
        for kind, (cpu, wall) in (r["sequential"] or {}).items():
            print(f"| {r['name']} | {kind} | {cpu:.2f} | {wall:.2f} |")
    problems = [e for r in rows for e in r["errors"]]
    if problems:
        print(f"\n{len(problems)} client errors, first: {problems[:3]}")


if __name__ == "__main__":
    main()
