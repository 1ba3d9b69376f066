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
