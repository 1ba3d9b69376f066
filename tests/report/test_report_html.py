"""report.html for a real run on part of the bundled Polis conversation, opened in headless Chromium."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from pnyx.io import load
from pnyx.pipeline import run
from pnyx.process import ProcessOptions
from pnyx.report import OUTPUTS, write_outputs

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "scoop-hivemind-biodiversity"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    profile = load(EXAMPLE)
    small = profile.subset(participants=np.arange(0, profile.n, 4))  # 134 participants, every Polis group
    result = run(small, 4, backend="cf", generators=["extractive"], options=ProcessOptions(seed=3))
    out = tmp_path_factory.mktemp("report")
    return result, write_outputs(result, out)


def test_the_four_outputs_are_written(outputs):
    result, paths = outputs
    assert sorted(p.name for p in paths.values()) == sorted(OUTPUTS)
    assert all(p.stat().st_size > 0 for p in paths.values())
    audit = json.loads(paths["audit.json"].read_text())
    assert {"bjr", "ejr", "accuracy", "model_usage"} <= set(audit)
    assert audit["model_usage"]["calls"] == 0


def test_report_is_self_contained_and_shows_the_slate(outputs):
    result, paths = outputs
    page = paths["report.html"].read_text(encoding="utf-8")
    remote = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, flags=re.IGNORECASE)
    assert remote == []
    assert "<script" not in page.lower() and "@import" not in page
    for st in result.result.statements:
        assert html.escape(st.text) in page
    for pid in result.result.profile.participant_ids[:5]:
        assert pid in page
    assert page.count('src="data:image/svg+xml;base64,') == 2
    assert "Representation per group" in page  # Polis group-id


def test_report_renders_in_chromium(outputs, tmp_path):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium package is missing: `bash scripts/install.sh --dev` installs it"

    _, paths = outputs
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(paths["report.html"].resolve().as_uri())
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
        heading = page.inner_text("h1")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert len(widths) == 2 and all(done and w > 0 for done, w in widths)
    assert heading.strip()
    assert all(u.startswith(("file:", "data:")) for u in requests)
    assert shot.stat().st_size > 10_000


def test_one_assignment_throughout(outputs):
    import csv
    from collections import Counter

    result, paths = outputs
    page = paths["report.html"].read_text(encoding="utf-8")
    with paths["assignment.csv"].open() as f:
        counts = Counter(row["statement"] for row in csv.DictReader(f))
    slate = json.loads(paths["slate.json"].read_text())
    for s in slate["statements"]:
        # the list, assignment.csv and slate.json's supporters count the same participants
        assert counts[s["id"]] == len(s["supporters"])
        assert f"speaks for <b>{counts[s['id']]}</b> participants" in page
    assert "the process&#39;s matching" in page  # (Jinja escapes the apostrophe)


def test_a_run_without_information_gets_no_green_verdict_and_no_map(tmp_path, midpoint_backend):
    from pnyx.assignment import balanced
    from pnyx.audit import audit
    from pnyx.data import Participant, Profile
    from pnyx.pipeline import Run
    from pnyx.process import generative_social_choice
    from pnyx.queries.base import Candidate, GenerativeBackend

    class Three(GenerativeBackend):
        name = "three"

        def generate(self, profile, participants, **kw):
            return [Candidate(t, self.name) for t in ("one", "two", "three")]

    profile = Profile.from_judgments([Participant(f"p{i}", {"q": "words"}) for i in range(6)], [], [], "rating")
    result = generative_social_choice(profile, 2, discriminative=midpoint_backend, generators=[Three()])
    assignment = balanced(result.utilities, result.slate)
    run_ = Run(result, assignment, audit(result, assignment, backend="constant"), "constant", ["three"])
    page = write_outputs(run_, tmp_path)["report.html"].read_text(encoding="utf-8")
    assert 'class="ok"' not in page and "nan%" not in page and "No map" in page
    assert "not assessed" in page and "No judgment was observed" in page


def test_a_seen_first_tie_is_explained_by_the_observed_judgments():
    from pnyx.report.html import _tie_sentence

    tie = {"tied": ["a", "b", "c"], "tolerance": 0.0, "broken_by": "…",
           "criteria": {"seen": {"a": 10.0, "b": 50.0, "c": 50.0}, "distinctive": {"a": 3.0, "b": 0.5, "c": 0.2}}}
    text = _tie_sentence(tie, "b")
    assert "the most observed judgments (50)" in text and "(next: c, 0.20)" in text


def test_the_rounds_caption_names_the_tiebreak_that_ran(outputs):
    from pnyx.rules.gsc import TIEBREAK_RULES

    result, paths = outputs
    page = html.unescape(re.sub(r"\s+", " ", paths["report.html"].read_text(encoding="utf-8")))
    assert "decided by the tiebreak least-served" in page
    assert TIEBREAK_RULES["least-served"] in page and "decided by distinctive support" not in page
