"""Kill and restart (SQLite and PostgreSQL): SIGKILL in the middle of submissions loses none that were
acknowledged, sessions survive, and a job interrupted by the kill runs again after the restart."""

from __future__ import annotations

import re
import threading
import time

import httpx

from serving import Client, LiveServer, invite_links, new_consultation, organiser, wait_for_job

SEEDS = [f"Seed statement number {n} about transport, parks and housing" for n in range(1, 41)]


def joined(server: LiveServer, people: int) -> tuple[Client, int, list[Client]]:
    """The organiser, a permissive consultation with SEEDS, and ``people`` participants who opened their links."""
    org = organiser(server)
    cid = new_consultation(org, SEEDS, moderation="permissive")
    clients = []
    for link in invite_links(org, cid, people):
        p = Client(server)
        assert p.open(link).status_code == 200
        clients.append(p)
    return org, cid, clients


def test_sigkill_loses_no_acknowledged_submission_and_jobs_resume(fresh_server):
    server = fresh_server
    org, cid, people = joined(server, 12)
    acked: list[dict[str, float]] = [{} for _ in people]
    errors: list[str] = []

    def participant(i: int, p: Client) -> None:
        for _ in range(8):
            try:
                sids = re.findall(r'name="j-(\d+)"', p.http.get("/me/batch").text)
                for sid in dict.fromkeys(sids):
                    value = (int(sid) + i) % 5
                    r = p.http.post("/me/judgments", data={f"j-{sid}": str(value), "csrf": p.csrf},
                                    headers={"Accept": "application/json"})
                    if r.status_code == 200 and r.json() == {"saved": 1}:
                        acked[i][sid] = float(value)  # acknowledged: the server committed it
                    else:
                        errors.append(f"{r.status_code} {r.text[:200]}")
            except httpx.TransportError:
                return  # the server is gone

    threads = [threading.Thread(target=participant, args=(i, p)) for i, p in enumerate(people)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while sum(map(len, acked)) < 120 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]
    total = sum(map(len, acked))
    assert total >= 120, "too few submissions before the kill"
    assert total < 12 * 40, "the kill came after the load ended"

    server.start()
    stored_total = 0
    for i, p in enumerate(people):
        mine = p.http.get("/me.json")  # the session cookie still works after the restart
        assert mine.status_code == 200
        stored = {j["statement"]: j["value"] for j in mine.json()["judgments"]}
        stored_total += len(stored)
        lost = {sid: v for sid, v in acked[i].items() if stored.get(sid) != v}
        assert lost == {}, f"participant {i + 1} lost acknowledged judgments {lost}"
    assert stored_total >= total

    # a process job killed while running is queued again at start and completes
    org = Client(server)
    org.open(server.admin_link)
    assert org.post(f"/admin/c/{cid}/jobs", {"kind": "process", "backend": "cf"}).status_code == 200
    deadline = time.monotonic() + 60
    while "job-running" not in org.http.get(f"/admin/c/{cid}/live").text:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    server.kill()
    server.start()
    outcome = wait_for_job(org, cid)
    assert outcome.startswith("done") and "attempt 2" in outcome and "a slate of 2" in outcome, outcome


def test_workers_share_the_database_and_die_with_a_killed_server(sqlite_url, tmp_path):
    """``pnyx serve --workers 2``: judgments through both workers are all stored; SIGKILL of the server leaves no
    worker holding the port, and the restarted server has every acknowledged judgment."""
    server = LiveServer(sqlite_url, tmp_path, args=["--workers", "2"]).start()
    try:
        _, _, people = joined(server, 6)
        acked = []
        for i, p in enumerate(people):
            sids = list(dict.fromkeys(re.findall(r'name="j-(\d+)"', p.http.get("/me/batch").text)))
            form = {f"j-{sid}": str((int(sid) + i) % 5) for sid in sids}
            r = p.post("/me/judgments", form, headers={"HX-Request": "true"})
            assert r.status_code == 200 and f"Saved {len(sids)} ratings" in r.text
            acked.append({sid: float(v) for sid, v in ((k[2:], v) for k, v in form.items())})
        server.kill()
        server.start()  # the same port: no worker of the killed server is left listening
        for p, mine in zip(people, acked):
            stored = {j["statement"]: j["value"] for j in p.http.get("/me.json").json()["judgments"]}
            assert {sid: stored.get(sid) for sid in mine} == mine
    finally:
        server.stop()
