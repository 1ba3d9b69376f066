"""The choosers of ``pnyx serve``: the query planner by default (issue 10), least-rated-first and random by
setting, a per-participant limit on judgments, and the planner's state cached per consultation."""

from __future__ import annotations

import re
import time

import pytest

from pnyx.planner import PlannerChooser
from pnyx.planner import choose_for_participant
from pnyx.serve import service
from pnyx.serve.chooser import CHOOSERS, DEFAULT_CHOOSER, ConsultationState, LivePlanner, least_rated, make_chooser
from pnyx.serve.db import Database
from pnyx.serve.models import Consultation, Participant

from serving import Client, LiveServer, invite_links, new_consultation, organiser

M, N = 10, 12


def ratings(i: int, j: int) -> int | None:
    """Participant i's rating of statement j (None: not rated). Statements 1–4 split the participants in
    two camps and are rated by nearly everyone; 5–10 are rated by few, all of whom dislike them."""
    if j <= 4:
        camp = i % 2
        return (4 if (j + camp) % 2 else 0) if (i + j) % 5 else None
    return 0 if (i + j) % 4 == 0 else None


@pytest.fixture
def db(db_url):
    d = Database(db_url)
    yield d
    d.dispose()


def consultation(db) -> tuple[int, list[int]]:
    with db.write() as s:
        c = service.create_consultation(s, question="What should the city do?", k=2, moderation="permissive")
        service.add_statements(s, c, [f"Statement number {j} about the city" for j in range(1, M + 1)])
        people = [p for p, _ in service.create_invites(s, c, N)]
        for i, p in enumerate(people):
            p.joined_at = service.now()
            values = {str(j): v for j in range(1, M + 1) if (v := ratings(i, j)) is not None}
            service.submit_judgments(s, p, values)
        return c.id, [p.id for p in people]


def planner_batch(profile, number: int, k: int) -> list[str]:
    """What pnyx.planner chooses for the participant, straight from the planner (the first 5)."""
    i = profile.participant_ids.index(str(number))
    w = PlannerChooser(k).weights(profile)
    order = choose_for_participant(i, w, profile.observed, profile.m + 1)
    return [profile.statement_ids[j] for j in order if w[i, j] > 0][:5]


def test_the_planner_is_the_default_and_serve_returns_its_choice(db):
    assert DEFAULT_CHOOSER == "planner" and set(CHOOSERS) == {"planner", "least-rated", "random"}
    cid, people = consultation(db)
    chooser = LivePlanner(background=False)
    with db.read() as s:
        c = s.get(Consultation, cid)
        profile = service.build_profile(s, c)
        p = s.get(Participant, people[0])
        served = [st.sid for st in service.next_batch(s, p, chooser)]
        least = [st.sid for st in service.next_batch(s, p, least_rated)]
    expected = planner_batch(profile, p.number, c.k)
    assert len(expected) == 5 and served == expected
    assert served != least  # a case where the two differ


def test_least_rated_and_random_by_setting_and_a_limit_per_participant(db):
    cid, people = consultation(db)
    random = make_chooser("random")
    assert make_chooser("least-rated") is least_rated and isinstance(make_chooser("planner"), LivePlanner)
    assert make_chooser("planner") is not make_chooser("planner")  # state per server, not shared
    with db.read() as s:
        p, q = s.get(Participant, people[0]), s.get(Participant, people[1])
        judged = service.judged_count(s, p)
        a, b = service.next_batch(s, p, random), service.next_batch(s, q, random)
        assert [x.sid for x in a] == [x.sid for x in service.next_batch(s, p, random)]  # seeded
        assert [x.sid for x in a] != [x.sid for x in b]  # a shuffle of its own per participant
        assert len(service.next_batch(s, p, least_rated, per_participant=judged + 2)) == 2
        assert service.next_batch(s, p, least_rated, per_participant=judged) == []
        assert len(service.next_batch(s, p, least_rated, per_participant=judged + 50)) == 5


def test_the_planner_state_is_cached_and_refreshed_every_n_judgments():
    profile_reads = []

    def load():
        profile_reads.append(1)
        return None  # the planner does not apply: least-rated meanwhile

    chooser = LivePlanner(refresh_every=3, min_interval=0, background=False)
    state = ConsultationState(consultation=1, seed=0, statements=["1", "2", "3"], counts={"1": 1, "2": 0, "3": 0},
                              load_profile=load)
    for _ in range(5):
        assert chooser("p", state) == least_rated("p", state)
    assert chooser.builds == 1  # once, not per request
    state.counts = {"1": 2, "2": 1, "3": 1}  # 3 judgments more
    time.sleep(0.05)  # past 10 × the last build's time
    chooser("p", state)
    assert chooser.builds == 2
    background = LivePlanner()
    background("p", state)  # the first call starts a build in the background and answers least-rated
    deadline = time.monotonic() + 10
    while background.builds == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert background.builds == 1


def test_the_live_server_offers_the_planners_choice(sqlite_url, tmp_path):
    """End to end: ``pnyx serve`` (default chooser) answers /me/batch with the planner's choice once its
    state is built (in the background)."""
    server = LiveServer(sqlite_url, tmp_path).start()
    try:
        org = organiser(server)
        cid = new_consultation(org, [f"Statement number {j} about the city" for j in range(1, M + 1)],
                               moderation="permissive")
        people = []
        for i, link in enumerate(invite_links(org, cid, N)):
            p = Client(server)
            assert p.open(link).status_code == 200
            values = {f"j-{j}": str(v) for j in range(1, M + 1) if (v := ratings(i, j)) is not None}
            assert p.post("/me/judgments", values).status_code == 200
            people.append(p)
        db = Database(sqlite_url, migrate=False)
        with db.read() as s:
            profile = service.build_profile(s, s.get(Consultation, cid))
        db.dispose()
        expected = planner_batch(profile, 1, 2)
        deadline, served = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            served = list(dict.fromkeys(re.findall(r'name="j-(\d+)"', people[0].http.get("/me/batch").text)))
            if served == expected:
                break
            time.sleep(0.2)
        assert served == expected
    finally:
        server.stop()
