"""Security of the live server (SQLite and PostgreSQL): isolation, CSRF, escaping, CSP, secrets at rest,
rate-limited token entry."""

from __future__ import annotations

import hashlib
import re

from serving import Client, invite_links, new_consultation, organiser, wait_for_job

SEEDS = ["More protected bike lanes", "Cheaper bus fares", "More parks and trees", "Longer library hours"]
XSS = "<script>alert('pwned')</script><img src=x onerror=alert(2)> buses matter to me and to my whole street"


def _participants(server, org, cid, n):
    people = []
    for link in invite_links(org, cid, n):
        p = Client(server)
        assert p.open(link).status_code == 200
        people.append(p)
    return people


def test_participants_see_only_their_own_data(live_server):
    org = organiser(live_server)
    cid = new_consultation(org, SEEDS, moderation="permissive")
    other = new_consultation(org, SEEDS)
    a, b = _participants(live_server, org, cid, 2)
    assert a.post("/me/opinion", {"opinion": "A's own opinion about trams and buses"}).status_code == 200
    assert b.post("/me/opinion", {"opinion": "B's private view on parking and taxes"}).status_code == 200
    assert a.post("/me/judgments", {"j-1": "4", "j-2": "0"}).status_code == 200
    assert b.post("/me/judgments", {"j-1": "1"}).status_code == 200
    mine = a.http.get("/me.json").json()
    assert mine["participant"] == 1
    assert {j["statement"] for j in mine["judgments"]} == {"1", "2", "5"}
    # ids in the URL or the form are ignored: the session decides who you are
    for path in ("/me.json?participant=2", "/me.json?participant_id=2&consultation=1", "/me?participant=2"):
        r = a.http.get(path)
        assert "B's private view" not in r.text and "participant 2" not in r.text
    a.post("/me/judgments", {"j-1": "2", "participant": "2", "participant_id": "2"})
    assert [j["value"] for j in b.http.get("/me.json").json()["judgments"] if j["statement"] == "1"] == [1.0]
    assert [j["value"] for j in a.http.get("/me.json").json()["judgments"] if j["statement"] == "1"] == [2.0]
    # organiser pages, exports and other consultations are closed to participants
    for path in ("/admin", f"/admin/c/{cid}", f"/admin/c/{cid}/live", f"/admin/c/{cid}/export.zip",
                 f"/admin/c/{other}", f"/admin/c/{cid}/runs/1/slate.json"):
        assert a.http.get(path).status_code == 403, path
    r = a.http.post(f"/admin/c/{cid}/moderate", data={"csrf": a.csrf, "statement": "6", "action": "reject"})
    assert r.status_code == 403
    # a statement of another consultation cannot be judged
    assert a.post("/me/judgments", {"j-99": "1"}).status_code == 400
    # and nobody without a session gets anything
    anon = Client(live_server)
    assert anon.http.get("/me.json").status_code == 403
    assert anon.http.get("/admin").status_code == 403


def test_post_without_the_csrf_token_is_refused(live_server):
    org = organiser(live_server)
    cid = new_consultation(org, SEEDS)
    a, b = _participants(live_server, org, cid, 2)
    assert a.post("/me/judgments", {"j-1": "3"}, csrf=False).status_code == 403
    assert a.http.post("/me/judgments", data={"j-1": "3", "csrf": "0" * 64}).status_code == 403
    assert a.http.post("/me/judgments", data={"j-1": "3", "csrf": b.csrf}).status_code == 403  # B's token, A's cookie
    assert a.http.post("/me/judgments", data={"j-1": "3"}, headers={"X-CSRF-Token": a.csrf}).status_code == 200
    assert org.post("/admin/consultations", {"question": "forged"}, csrf=False).status_code == 403
    assert org.post(f"/admin/c/{cid}/invites", {"count": "5"}, csrf=False).status_code == 403
    assert a.http.get("/me.json").json()["judgments"] == [{"statement": "1", "text": SEEDS[0], "value": 3.0,
                                                           "phase": "rating"}]


def test_participant_text_is_escaped_everywhere(live_server, tmp_path):
    org = organiser(live_server)
    cid = new_consultation(org, SEEDS, moderation="permissive")
    people = _participants(live_server, org, cid, 3)
    assert people[0].post("/me/opinion", {"opinion": XSS}).status_code == 200
    for n, p in enumerate(people):
        sids = set(re.findall(r'name="j-(\d+)"', p.http.get("/me").text))
        p.post("/me/judgments", {f"j-{s}": "4" if s == "5" else str((int(s) + n) % 4) for s in sids})
    while True:  # everyone rates everything, so the opinion can reach the slate and the report
        left = [p for p in people if 'name="j-' in p.http.get("/me/batch").text]
        if not left:
            break
        for n, p in enumerate(left):
            sids = set(re.findall(r'name="j-(\d+)"', p.http.get("/me/batch").text))
            p.post("/me/judgments", {f"j-{s}": "4" if s == "5" else str((int(s) + n) % 4) for s in sids})
    assert org.post(f"/admin/c/{cid}/jobs", {"kind": "process", "backend": "cf"}).status_code == 200
    assert wait_for_job(org, cid).startswith("done")
    pages = {"participant": people[0].http.get("/me"), "other": people[1].http.get("/me"),
             "dashboard": org.http.get(f"/admin/c/{cid}"), "live": org.http.get(f"/admin/c/{cid}/live"),
             "report": org.http.get(f"/admin/c/{cid}/runs/1/report.html"),
             "slate": org.http.get(f"/admin/c/{cid}/runs/1/slate.json")}
    assert XSS in pages["participant"].text.replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'") \
        .replace("&#x27;", "'").replace("&amp;", "&")  # it is there, as text
    slate = pages.pop("slate")  # JSON, a download: the text as it is, never rendered as a page
    assert slate.headers["content-type"].startswith("application/json") and "attachment" in \
        slate.headers["content-disposition"] and slate.headers["x-content-type-options"] == "nosniff"
    assert XSS in [st["text"] for st in slate.json()["statements"]]
    for name, r in pages.items():
        assert r.status_code == 200, name
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, name
        csp = r.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp.split("script-src")[-1].split(";")[0] and "script-src 'unsafe" not in csp
    assert "script-src" not in pages["report"].headers["content-security-policy"]  # default-src 'none': no script
    assert "&lt;script&gt;" in pages["report"].text
    # the page itself has no inline script: every <script> has a src under /static/
    for name in ("participant", "dashboard"):
        tags = re.findall(r"<script\b[^>]*>", pages[name].text)
        assert tags and all('src="/static/' in t for t in tags), tags


def test_secrets_are_stored_only_as_digests(live_server):
    import sqlalchemy as sa

    from pnyx.serve.db import normalise_url

    org = organiser(live_server)
    cid = new_consultation(org, SEEDS)
    links = invite_links(org, cid, 2)
    opened = org.post(f"/admin/c/{cid}/open-link").text
    open_link = re.search(r'<code id="open-link">([^<]+)</code>', opened).group(1)
    secrets = [live_server.admin_link, *links, open_link]
    tokens = [link.rsplit("/", 1)[1] for link in secrets]
    engine = sa.create_engine(normalise_url(live_server.db))
    with engine.connect() as conn:
        dump = "\n".join(str(row) for table in ("settings", "participants", "consultations", "sessions")
                         for row in conn.execute(sa.text(f"SELECT * FROM {table}")))
    engine.dispose()
    for token in tokens:
        assert token not in dump
        assert hashlib.sha256(token.encode()).hexdigest() in dump
    assert org.http.cookies["pnyx_admin"] not in dump


def test_wrong_tokens_are_rate_limited(live_server):
    """Last in the module: it blocks this address on the module's server for a minute."""
    org = organiser(live_server)
    cid = new_consultation(org, SEEDS)
    good = invite_links(org, cid, 1)[0]
    guesser = Client(live_server)
    codes = [guesser.http.get(f"/i/wrong-token-{n}").status_code for n in range(10)]
    assert codes == [404] * 10
    assert guesser.http.get("/i/wrong-token-11").status_code == 429
    assert guesser.http.get(good).status_code == 429  # blocked for a while, even with a valid link
    assert guesser.http.get("/a/not-the-secret").status_code == 429
    assert guesser.http.get("/me.json").status_code == 403


def test_a_server_error_page_carries_the_security_headers(sqlite_url, monkeypatch):
    """Starlette sends a 500 from outside the middleware; its page must still carry the CSP."""
    from starlette.testclient import TestClient

    from pnyx.serve import app as app_module

    def crash(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(app_module.service, "check_admin_secret", crash)
    with TestClient(app_module.create_app(sqlite_url, run_jobs=False), raise_server_exceptions=False) as http:
        r = http.get("/a/some-secret")
    assert r.status_code == 500 and "Something went wrong" in r.text and "a bug" not in r.text
    assert r.headers["content-security-policy"] == app_module.CSP
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
