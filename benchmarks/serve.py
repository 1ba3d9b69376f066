"""Load test of ``pnyx serve`` over loopback: simulated participants join, write, and rate concurrently.

Each of ``--participants`` (200) simulated participants makes the requests the participant page makes:
it opens its invite link (``/i/<token>`` → ``/me``), submits one opinion (the form's POST → ``/me``), then
rates ``--judgments`` (30) statements the way the page's rating form does: the set of 5 it shows in one
htmx POST to ``/me/judgments``, whose answer (sent after the commit) is the next set. A judgment is
acknowledged when that answer says it was saved. The server is ``pnyx serve`` in its own process(es)
(SQLite file, then a PostgreSQL server started from Debian's package); afterwards the database is read
directly: every acknowledged submission must be there (lost = 0) and none twice.

Two load models, both reported:

* **open loop** (the target is judged on this one): the rating POSTs of all participants together are
  offered at a fixed rate (judgments/s ÷ 5 POSTs/s, each participant on its own evenly spaced
  schedule, like wrk2); a late answer does not delay the schedule, and latency is measured from the
  time the request was *due*, so queueing is counted (no coordinated omission). Rates are tried in
  ``--rates``; "sustained" is the highest whose p99 stays under 300 ms with every scheduled request done.
* **closed loop**: every participant sends its next POST the moment the last is answered (no pause): this
  measures the server's ceiling, and its latency is queueing by Little's law (latency = concurrency /
  throughput), not a property of the server at a realistic load.

Then the open loop at ``--kill-rate`` with a SIGKILL of the server when half the judgments are
acknowledged and an immediate restart; clients retry what was not acknowledged, as a browser would (a
retried set is an upsert of the same values: idempotent). Baselines, same run: ``GET /`` (a page that
touches no database) at the same concurrency, and each request alone for its server CPU. The load
generator runs on the same 2 cores; its CPU per judgment is in the table. Bounded: fixed counts,
loopback only, a deadline per scenario.

    PYTHONPATH=src .venv/bin/python benchmarks/serve.py [--participants 200] [--judgments 30] [--workers 1]
        [--rates 250,500,750,1000] [--kill-rate 500] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
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
SET = 5
"""Statements per rating set (the page's)."""
P99_TARGET_MS = 300


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
    """Seconds per rating POST: from when it was due (open loop) or sent (closed loop) to its answer."""
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
                return status, fields, text
            outcome.errors.append(f"{status}: {text[:120]}")
            if status < 500:
                raise RuntimeError(outcome.errors[-1])
        except Closed:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("deadline passed")
        outcome.retries += 1
        await asyncio.sleep(0.2)


def _rating_set(html: str, mine: dict[str, float]) -> list[str]:
    return [s for s in dict.fromkeys(re.findall(r'name="j-(\d+)"', html)) if s not in mine]


async def participant(port: int, token: str, judgments: int, outcome: Outcome, deadline: float, a: int,
                      ready, due=None) -> None:
    """One participant, as the page: join, one opinion, then rating sets of 5 (one POST each).

    ``ready()`` is awaited between writing and rating (all participants start rating together);
    ``due(k)`` is when the k-th rating POST is due (open loop), None: at once (closed loop)."""
    c = RawClient(port)
    try:
        page = (await _retrying(outcome, deadline, lambda: c.get(f"/i/{token}")))[2]
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        number = int(re.search(r"participant (\d+)\.", page).group(1))
        mine = outcome.acked.setdefault(number, {})
        opinion = {"csrf": csrf,
                   "opinion": f"Participant {number} thinks the budget should go to buses and parks, reason {a}."}
        status, fields, _ = await _retrying(outcome, deadline, lambda: c.request("POST", "/me/opinion", opinion))
        if status != 303 or "saved=" not in fields.get("location", ""):
            raise RuntimeError(f"opinion not saved: {status} {fields.get('location')}")
        outcome.opinions.add(number)  # saved (or, on a retry after a kill, found saved: "duplicate")
        page = (await _retrying(outcome, deadline, lambda: c.get(fields["location"])))[2]
    finally:
        await ready()
    try:
        sids, k = _rating_set(page, mine), 0
        while sids and len(mine) < judgments:
            sids = sids[: judgments - len(mine)]
            values = {sid: (int(sid) * 7 + number) % 5 for sid in sids}
            form = {"csrf": csrf, **{f"j-{sid}": str(v) for sid, v in values.items()}}
            t0 = time.monotonic() if due is None else due(k)
            if t0 > time.monotonic():
                await asyncio.sleep(t0 - time.monotonic())
            _, _, answer = await _retrying(outcome, deadline, lambda: c.request(
                "POST", "/me/judgments", form, {"HX-Request": "true", "HX-Target": "batch"}))
            t1 = time.monotonic()
            if f"Saved {len(values)} rating" not in answer:
                raise RuntimeError(f"unexpected answer {answer[:200]}")
            mine.update({sid: float(v) for sid, v in values.items()})  # acknowledged: committed by the server
            outcome.latencies.append(t1 - t0)
            outcome.first, outcome.last = min(outcome.first, t0), max(outcome.last, t1)
            sids, k = _rating_set(answer, mine), k + 1
    finally:
        await c.close()


async def load(port: int, tokens: list[str], judgments: int, seconds: float, rate: float | None,
               kill=None) -> Outcome:
    """All participants at once; ``rate`` judgments/s offered in all (open loop) or None (closed loop)."""
    outcome = Outcome()
    deadline = time.monotonic() + seconds
    n = len(tokens)
    arrived, go = [0], asyncio.Event()
    start: list[float] = []

    async def ready():
        arrived[0] += 1
        if arrived[0] == n:
            start.append(time.monotonic() + 0.05)
            go.set()
        await go.wait()

    def schedule(a: int):
        if rate is None:
            return None
        interval = n * SET / rate  # each participant's period: n participants × 5 judgments per POST
        return lambda k: start[0] + (a / n + k) * interval

    tasks = [asyncio.create_task(participant(port, t, judgments, outcome, deadline, a, ready, schedule(a)))
             for a, t in enumerate(tokens)]
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


async def per_request(port: int, pid: int, token: str, n: int = 200) -> dict[str, tuple[float, float]]:
    """One client, requests one after another: server CPU ms and wall ms per request, by kind."""
    c = RawClient(port)
    page = (await c.get(f"/i/{token}"))[2]
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    one = {"csrf": csrf, "j-1": "3"}
    five = {"csrf": csrf, **{f"j-{j}": "3" for j in range(1, SET + 1)}}
    kinds = {"GET / (no database)": lambda: c.get("/"),
             "GET /me/batch (a set of 5)": lambda: c.get("/me/batch"),
             "POST one judgment (JSON answer)": lambda: c.request("POST", "/me/judgments", one,
                                                                  {"Accept": "application/json"}),
             "POST a set of 5 (htmx: answer = next set)": lambda: c.request("POST", "/me/judgments", five,
                                                                            {"HX-Request": "true"})}
    out = {}
    for name, send in kinds.items():
        await send()
        cpu0, t0 = tree_cpu(pid), time.monotonic()
        for _ in range(n):
            status, _, text = await send()
            assert status == 200, text[:200]
        out[name] = ((tree_cpu(pid) - cpu0) / n * 1000, (time.monotonic() - t0) / n * 1000)
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


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (the worker processes of ``--workers N``)."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
    tree, grew = {pid}, True
    while grew:
        more = {p for p, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0.0
    for p in tree:
        try:
            total += cpu_seconds(p)
        except OSError:
            pass
    return total


def scenario(name: str, url: str, folder: Path, args, *, rate: float | None, kill: bool = False,
             baselines: bool = False) -> dict:
    cid, tokens = prepare(url, args.participants + 1)
    tokens, spare = tokens[:-1], tokens[-1]
    server = LiveServer(url, folder, args=["--workers", str(args.workers)]).start()
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

    base = {}
    try:
        if baselines:
            rate0, lat0 = asyncio.run(baseline(server.port, args.participants, 10))
            base = {"baseline_rate": rate0, "baseline_p50": float(np.percentile(lat0, 50) * 1000),
                    "baseline_p99": float(np.percentile(lat0, 99) * 1000),
                    "sequential": asyncio.run(per_request(server.port, server.proc.pid, spare))}
        cpu0, client0 = tree_cpu(server.proc.pid), time.process_time()
        outcome = asyncio.run(load(server.port, tokens, args.judgments, args.seconds, rate,
                                   killer if kill else None))
        server_cpu = None if kill else tree_cpu(server.proc.pid) - cpu0
        client_cpu = time.process_time() - client0
    finally:
        server.stop()
    checked = verify(url, cid, outcome)
    lat = np.asarray(outcome.latencies) * 1000
    elapsed = outcome.last - outcome.first
    judged = sum(map(len, outcome.acked.values()))
    complete = checked["acked"] == args.participants * args.judgments and not outcome.errors
    return {"name": name, "rate_offered": rate, "kill": kill, **checked, "errors": outcome.errors,
            "retries": outcome.retries, "complete": complete,
            "rate": judged / elapsed if elapsed > 0 else 0.0, "p50": float(np.percentile(lat, 50)) if len(lat) else 0,
            "p99": float(np.percentile(lat, 99)) if len(lat) else 0, "elapsed": elapsed, **killed,
            "server_cpu_ms": None if server_cpu is None else server_cpu / max(1, judged) * 1000,
            "client_cpu_ms": client_cpu / max(1, judged) * 1000, "load": os.getloadavg()[0], **base}


def run_database(name: str, new_url, tmp: Path, args) -> list[dict]:
    """The rate sweep (open loop), the closed loop and the kill scenario on fresh databases of one kind."""
    rows = []

    def one(tag: str, **kw) -> dict:
        folder = tmp / f"{name.split()[0]}-{tag}"
        folder.mkdir()
        row = scenario(name, new_url(folder), folder, args, **kw)
        rows.append(row)
        print(f"  {name} {tag}: {row['rate']:.0f} judgments/s, p99 {row['p99']:.0f} ms, lost {row['lost']}, "
              f"load {row['load']:.1f}", file=sys.stderr, flush=True)
        return row

    for a, rate in enumerate(args.rates):
        row = one(f"open-{rate:g}", rate=rate, baselines=a == 0)
        if row["p99"] > 4 * P99_TARGET_MS:  # far past the knee: higher rates say nothing more
            break
    one("closed", rate=None)
    one("kill", rate=args.kill_rate, kill=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--participants", type=int, default=200)
    ap.add_argument("--judgments", type=int, default=30)
    ap.add_argument("--workers", type=int, default=1, help="pnyx serve --workers")
    ap.add_argument("--rates", default="250,500,750,1000", help="open-loop offered judgments/s, comma-separated")
    ap.add_argument("--kill-rate", type=float, default=500, help="open-loop rate of the SIGKILL scenario")
    ap.add_argument("--seconds", type=float, default=120, help="deadline per scenario")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += run_database("SQLite (WAL)", lambda folder: str(folder / "pnyx.db"), Path(tmp), args)
        if not args.no_postgres:
            with pg_cluster() as cluster:
                rows += run_database("PostgreSQL", lambda folder: cluster.new_database(), Path(tmp), args)
    print(f"{args.participants} participants × (join, 1 opinion, {args.judgments} judgments in sets of {SET}, one POST "
          f"per set), over loopback · pnyx serve --workers {args.workers} · {platform.machine()}, "
          f"{os.cpu_count()} cores · Python {platform.python_version()}\n")
    print("| database | load model | SIGKILL mid-load | judgments acknowledged | lost | duplicated | opinions lost | "
          "judgments/s | p50 ms | p99 ms | p99 < 300 ms | client retries | server CPU ms per judgment | "
          "client CPU ms per judgment | load average |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        model = "closed (no pause)" if r["rate_offered"] is None else f"open, {r['rate_offered']:g}/s offered"
        kill = f"yes (at {r['at']}, down {r['down']:.1f} s)" if r["kill"] else "no"
        server_cpu = "" if r["server_cpu_ms"] is None else f"{r['server_cpu_ms']:.2f}"
        met = "yes" if r["p99"] < P99_TARGET_MS and r["complete"] else "no"
        print(f"| {r['name']} | {model} | {kill} | {r['acked']} | {r['lost']} | {r['duplicated']} | "
              f"{r['opinions_lost']} | {r['rate']:.0f} | {r['p50']:.0f} | {r['p99']:.0f} | {met} | {r['retries']} | "
              f"{server_cpu} | {r['client_cpu_ms']:.2f} | {r['load']:.1f} |")
    print("\nhighest open-loop rate with p99 < 300 ms and every judgment acknowledged:\n")
    print("| database | judgments/s offered | judgments/s achieved | p99 ms |")
    print("|---|---|---|---|")
    for name in dict.fromkeys(r["name"] for r in rows):
        ok = [r for r in rows if r["name"] == name and r["rate_offered"] and not r["kill"]
              and r["p99"] < P99_TARGET_MS and r["complete"]]
        best = max(ok, key=lambda r: r["rate_offered"], default=None)
        print(f"| {name} | {best['rate_offered']:g} | {best['rate']:.0f} | {best['p99']:.0f} |" if best
              else f"| {name} | none of {', '.join(f'{x:g}' for x in args.rates)} | | |")
    print("\nbaseline, same concurrency, GET / (no database):\n")
    print("| server | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for r in rows:
        if "baseline_rate" in r:
            print(f"| {r['name']} | {r['baseline_rate']:.0f} | {r['baseline_p50']:.0f} | {r['baseline_p99']:.0f} |")
    print("\none client, one request after another (200 each):\n")
    print("| server | request | server CPU ms | wall ms |")
    print("|---|---|---|---|")
    for r in rows:
        for kind, (cpu, wall) in (r.get("sequential") or {}).items():
            print(f"| {r['name']} | {kind} | {cpu:.2f} | {wall:.2f} |")
    problems = [e for r in rows for e in r["errors"]]
    if problems:
        print(f"\n{len(problems)} client errors, first: {problems[:3]}")


if __name__ == "__main__":
    main()
