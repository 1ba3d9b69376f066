"""Organiser pages over HTTP (SQLite and PostgreSQL): importing a Polis export, seed upload errors, links."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from serving import Client, invite_links, new_consultation, organiser

from pnyx.io import load

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scoop-hivemind-biodiversity"


def test_import_a_polis_export_and_export_it_again(live_server, tmp_path):
    org = organiser(live_server)
    polis = tmp_path / "polis-in"  # the example conversation's first 4000 votes, to keep the test quick
    polis.mkdir()
    for name in ("comments.csv", "summary.csv"):
        (polis / name).write_bytes((EXAMPLE / name).read_bytes())
    (polis / "votes.csv").write_text("".join((EXAMPLE / "votes.csv").open().readlines()[:4001]))
    files = [("files", (f.name, f.read_bytes(), "text/csv")) for f in sorted(polis.iterdir())]
    r = org.http.post("/admin/import", data={"csrf": org.csrf, "k": "4"}, files=files)
    assert r.status_code == 200 and re.search(r"/admin/c/\d+$", str(r.url)), r.text[:300]
    original = load(polis)
    stats = dict(re.findall(r"<dt>([^<]+)</dt><dd[^>]*>(\d+)</dd>", r.text))
    assert int(stats["Participants"]) == original.n and int(stats["Judgments"]) == int(original.observed.sum())
    cid = str(r.url).rsplit("/", 1)[1]
    z = org.http.get(f"/admin/c/{cid}/export.zip")
    assert z.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(z.content)).extractall(tmp_path / "out")
    back = load(tmp_path / "out" / "polis")
    assert back.participant_ids == original.participant_ids and back.statement_ids == original.statement_ids
    assert int(back.observed.sum()) == int(original.observed.sum())
    # a wrong upload is one clear line, and nothing is created
    r = org.http.post("/admin/import", data={"csrf": org.csrf}, files=[("files", ("comments.csv", b"a,b\n1,2\n"))])
    assert r.status_code == 400 and "neither votes.csv nor participants-votes.csv" in r.text


def test_seed_upload_errors_and_open_link(live_server):
    org = organiser(live_server)
    cid = new_consultation(org, [])
    r = org.http.post(f"/admin/c/{cid}/seeds", data={"csrf": org.csrf},
                      files={"file": ("s.csv", b"body\nno statement column\n")})
    assert r.status_code == 400 and "header needs one of comment-body, text, statement" in r.text
    r = org.post(f"/admin/c/{cid}/open-link")
    link = re.search(r'<code id="open-link">([^<]+)</code>', r.text).group(1)
    one, two = Client(live_server), Client(live_server)
    assert "participant 1." in one.open(link + "?xid=ext-42").text
    assert "participant 1." in two.open(link + "?xid=ext-42").text  # the same person, recognised by xid
    assert "participant 2." in Client(live_server).open(link).text
    assert len(invite_links(org, cid, 2)) == 2
    assert org.post("/admin/consultations", {"question": "", "k": "2"}).status_code == 400
    assert org.post("/admin/consultations", {"question": "q", "k": "0"}).status_code == 400


def test_bad_requests_get_a_page_not_a_crash(live_server):
    """Out-of-range ids, missing consultations, files in text fields, empty submissions: 4xx with a reason."""
    org = organiser(live_server)
    cid = new_consultation(org, ["More bike lanes", "Cheaper buses"])
    big = 2**63
    for path in ("/admin/c/99999", "/admin/c/99999/live", "/admin/c/99999/export.zip", f"/admin/c/{big}/live",
                 f"/admin/c/{cid}/runs/{big}/slate.json", f"/admin/c/{cid}/runs/99999/slate.json"):
        assert org.http.get(path).status_code == 404, path
    assert org.post("/admin/c/99999/seeds", {"text": "a seed"}).status_code == 404
    r = org.post("/admin/consultations", {"question": "q", "seed": str(big)})
    assert r.status_code == 400 and "field &#39;seed&#39;: must be between 0 and 2147483647" in r.text
    r = org.http.post("/admin/consultations", data={"csrf": org.csrf}, files={"question": ("q.txt", b"a question")})
    assert r.status_code == 400 and "expected text, got a file" in r.text
    r = org.http.post("/admin/import", data={"csrf": org.csrf, "k": "0"},
                      files=[("files", (f.name, f.read_bytes())) for f in sorted(EXAMPLE.glob("*.csv"))])
    assert r.status_code == 400 and "field &#39;k&#39;: must be between 1 and 50" in r.text
    [link] = invite_links(org, cid, 1)
    p = Client(live_server)
    p.open(link)
    r = p.http.post("/me/opinion", data={"csrf": p.csrf}, files={"opinion": ("o.txt", b"an opinion")})
    assert r.status_code == 400 and "expected text, got a file" in r.text
    r = p.post("/me/judgments", {})
    assert r.status_code == 400 and "nothing to save" in r.text
    assert p.http.get("/me.json").json()["statements"] == [] and p.http.get("/me.json").json()["judgments"] == []


def test_an_open_link_with_an_invitees_xid_opens_nothing(live_server):
    org = organiser(live_server)
    cid = new_consultation(org, ["More bike lanes"])
    r = org.post(f"/admin/c/{cid}/invites", {"xids": "alice@example.org"})
    alice = Client(live_server)
    alice.open(re.search(r'<code class="invite">([^<]+)</code>', r.text).group(1))
    assert alice.post("/me/judgments", {"j-1": "4"}).status_code == 200
    link = re.search(r'<code id="open-link">([^<]+)</code>', org.post(f"/admin/c/{cid}/open-link").text).group(1)
    mallory = Client(live_server)
    r = mallory.open(link + "?xid=alice@example.org")
    assert r.status_code == 403 and "belongs to an invited participant" in r.text
    assert mallory.http.get("/me.json").status_code == 403
