"""The whole consultation in a real browser (Playwright driving Debian's Chromium), on SQLite and PostgreSQL.

An organiser creates a consultation and uploads seeds; three participants in separate browser contexts
(one at phone width, one by keyboard only) write and rate; the organiser moderates, runs a generation
round and the process, publishes; each participant sees the slate and the statement that speaks for them.
"""

from __future__ import annotations

import re
import time

from serving import SCREENSHOTS

SEEDS = ("comment-id,comment-body\n1,The city should build protected bike lanes on main roads\n"
         "2,Bus fares should be cut for students and seniors\n3,Every neighbourhood needs a park within walking distance\n"
         "4,Property taxes are too high and should be lowered\n5,Libraries should open in the evenings and on Sundays\n"
         "6,Street lighting should be improved in dark areas\n")
OPINIONS = [
    "Cycling is dangerous here; protected bike lanes and better street lighting would help me get to work safely.",
    "Public transport is too expensive. Cheaper buses and later evening service matter most to my family.",
    "<script>alert('x')</script> Green space matters: we need more parks and trees for children to play.",
]
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


def _watch(page, problems: list[str]) -> None:
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))


def _shot(page, name: str, full: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full)


def _labelled(page) -> None:
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, textarea, select')]
        .filter(e => e.type !== 'hidden' && e.labels.length === 0).map(e => e.name)""")
    assert unlabelled == []


def _wait_job(page, url: str, job_id: int, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.goto(url)
        row = page.locator("#jobs tr", has=page.locator(f"td:text-is('{job_id}')"))
        status = row.locator("td").nth(2).inner_text()
        if status.startswith(("done", "failed")):
            return row.inner_text()
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


def _rate(page, how: str = "click") -> int:
    """Rate the batch shown: every statement, by clicking or by keyboard; returns how many."""
    sets = page.locator("#batch fieldset")
    n = sets.count()
    for a in range(n):
        radios = sets.nth(a).locator("input[type=radio]")
        if how == "keyboard":
            radios.first.focus()
            page.keyboard.press("ArrowRight")  # moves and checks within the radio group
            page.keyboard.press("ArrowRight")
        else:
            radios.nth((a * 3 + 1) % radios.count()).check()
    if how == "keyboard":
        page.locator("#batch button", has_text="Save ratings").focus()
        page.keyboard.press("Enter")
    else:
        page.locator("#batch button", has_text="Save ratings").click()
    if n:
        page.locator("#batch .ok").wait_for()
        assert f"Saved {n} rating" in page.locator("#batch .ok").inner_text()
    return n


def test_consultation_end_to_end(browser, live_server, tmp_path):
    problems: list[str] = []
    org = browser.new_context(viewport=DESKTOP)
    admin = org.new_page()
    _watch(admin, problems)
    admin.goto(live_server.admin_link)
    assert admin.url.endswith("/admin")
    _labelled(admin)
    admin.fill("#question", "How should our city spend next year's budget?")
    admin.fill("#description", "Write what matters to you, then rate what others wrote.")
    admin.fill("#k", "2")
    admin.select_option("#moderation", "strict")
    admin.click("button:text('Create consultation')")
    assert re.search(r"/admin/c/\d+$", admin.url)
    dashboard = admin.url
    seeds = tmp_path / "seeds.csv"
    seeds.write_text(SEEDS)
    admin.set_input_files("#seed-file", str(seeds))
    admin.click("button:text('Add seeds')")
    assert "6 seed statements added" in admin.inner_text("main")
    admin.fill("#count", "3")
    admin.click("button:text('Make invite links')")
    links = admin.locator("code.invite").all_inner_texts()
    assert len(links) == 3

    people = []
    for n, (link, size) in enumerate(zip(links, (DESKTOP, PHONE, DESKTOP))):
        ctx = browser.new_context(viewport=size)
        page = ctx.new_page()
        _watch(page, problems)
        page.goto(link)
        assert page.url.endswith("/me")
        _labelled(page)
        page.fill("#opinion", OPINIONS[n])
        page.click("button:text('Submit opinion')")
        assert "Your opinion was saved." in page.inner_text("main")
        assert OPINIONS[n] in page.inner_text("#mine")  # shown as text, escaped
        assert _rate(page, "keyboard" if n == 2 else "click") == 5
        people.append((ctx, page))
    _shot(people[0][1], "participant-desktop")
    _shot(people[1][1], "participant-phone")
    assert people[1][1].evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling

    # strict moderation: the opinions wait for approval; the organiser approves them
    admin.goto(dashboard)
    queue = admin.locator("table:has(th:text('Flags')) tbody tr")
    assert queue.count() == 3
    for _ in range(3):
        admin.locator("button:text('Approve')").first.click()
    assert admin.locator("table:has(th:text('Flags'))").count() == 0
    for ctx, page in people:
        page.goto(live_server.base + "/me")
        while page.locator("#batch fieldset").count():
            _rate(page)
    _shot(people[2][1], "participant-all-rated-desktop")

    # a generation round, then the process, as jobs the dashboard follows
    admin.goto(dashboard)
    admin.click("button:text('Run a generation round')")
    job = int(re.search(r"job (\d+) queued", admin.inner_text("main")).group(1))
    row = _wait_job(admin, dashboard, job)
    assert "done" in row and "new statements" in row, row
    admin.goto(dashboard)
    _shot(admin, "organiser-dashboard-desktop")
    while admin.locator("button:text('Approve')").count():
        admin.locator("button:text('Approve')").first.click()
    for ctx, page in people[:2]:
        page.goto(live_server.base + "/me")
        _rate(page)
    admin.select_option("#backend", "cf")  # the default (offline) is slower; tests/serve/test_jobs.py runs it
    admin.uncheck("input[name=accuracy]")
    admin.click("button:text('Run the process')")
    job = int(re.search(r"job (\d+) queued", admin.inner_text("main")).group(1))
    row = _wait_job(admin, dashboard, job)
    assert "done" in row and "a slate of 2" in row, row
    admin.goto(dashboard)
    run = admin.locator("article.run").first
    slate = run.locator("ol li").all_inner_texts()
    assert len(slate) == 2
    report = admin.request.get(admin.url + f"/runs/{run.get_attribute('id').split('-')[1]}/report.html")
    assert report.ok and "<script>alert" not in report.text()
    run.locator("button:text('Publish')").click()
    assert "published" in admin.inner_text("main")
    admin.set_viewport_size(PHONE)
    _shot(admin, "organiser-dashboard-phone")

    for n, (ctx, page) in enumerate(people):
        page.goto(live_server.base + "/me")
        assert page.locator("#results ol.slate li").count() == 2
        mine = page.locator("#your-statement").inner_text()
        assert "The statement that speaks for you" in mine
        assert any(s.split(" (")[0] in mine for s in slate)
    _shot(people[0][1], "participant-results-desktop")
    _shot(people[1][1], "participant-results-phone")

    # the validation phase: participants rate the published slate; the dashboard summarises
    admin.set_viewport_size(DESKTOP)
    admin.goto(dashboard)
    admin.click("button:text('Start the validation phase')")
    for ctx, page in people:
        page.goto(live_server.base + "/me")
        assert "Rate the final slate" in page.inner_text("#batch")
        assert _rate(page) == 2
    admin.goto(dashboard)
    assert "3 participants rated every slate statement" in admin.inner_text("#validation")
    alerts = [p for p in problems if "alert" in p or "dialog" in p]
    assert not alerts, alerts
    assert not [p for p in problems if "Content Security Policy" in p], problems
    for ctx, _ in people:
        ctx.close()
    org.close()
