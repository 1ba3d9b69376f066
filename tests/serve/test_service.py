"""The organiser and participant operations on a real database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pnyx.data import InputError
from pnyx.evaluate.slate import evaluate_slate
from pnyx.io import load
from pnyx.serve import service
from pnyx.serve.chooser import ConsultationState, least_rated
from pnyx.serve.db import Database, normalise_url
from pnyx.serve.models import Consultation, Participant


@pytest.fixture
def db(db_url):
    d = Database(db_url)
    yield d
    d.dispose()


def _consultation(db, **kw):
    with db.write() as s:
        c = service.create_consultation(s, question="What should the city do?", **kw)
        service.add_statements(s, c, ["More bike lanes", "Cheaper buses", "More parks", "Lower taxes", "Free wifi"])
        invites = service.create_invites(s, c, 4)
        for p, _ in invites:
            p.joined_at = service.now()
        return c.id, [p.id for p, _ in invites]


def _participant(s, pid):
    return s.get(Participant, pid)


def test_migration_is_idempotent_and_urls_are_normalised(db, db_url):
    Database(db_url).dispose()  # a second start runs the migration again: nothing to do
    assert normalise_url("x.db") == "sqlite:///x.db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(InputError, match="unsupported database URL"):
        normalise_url("mysql://u@h/db")


def test_chooser_least_rated_first_with_seeded_shuffle():
    state = ConsultationState(consultation=1, seed=3, statements=[str(j) for j in range(20)],
                              counts={str(j): (0 if j >= 10 else 2) for j in range(20)}, done={"7": {"15"}})
    first = least_rated("7", state)
    assert len(first) == 5 and all(int(s) >= 10 for s in first) and "15" not in first
    assert least_rated("7", state) == first  # reproducible
    others = {tuple(least_rated(str(p), state)) for p in range(20)}
    assert len(others) > 1  # the shuffle differs between participants
    state.seed = 4
    assert {tuple(least_rated(str(p), state)) for p in range(20)} != others


def test_seed_csv_accepts_polis_header_and_rejects_others(db):
    with db.write() as s:
        c = service.create_consultation(s, question="q")
        made = service.seed_from_csv(s, c, b"comment-id,comment-body\n1,First seed\n2,\"Second, with comma\"\n3,\n")
        assert [m.text for m in made] == ["First seed", "Second, with comma"]
        assert [m.sid for m in made] == ["1", "2"]
        again = service.seed_from_csv(s, c, b"text\nFirst seed\nThird\n")  # duplicates are skipped
        assert [m.sid for m in again] == ["3"]
    with pytest.raises(InputError, match="header needs one of comment-body"):
        service.parse_seed_csv(b"body\nx\n")


def test_strict_and_permissive_moderation_and_flags(db):
    for mode, shown_before in (("strict", False), ("permissive", True)):
        cid, people = _consultation(db, moderation=mode)
        with db.write() as s:
            a = _participant(s, people[0])
            st = service.submit_opinion(s, a, "We need safer crossings near schools")
            sid = st.sid
        with db.read() as s:
            b = _participant(s, people[1])
            seen = {x.sid for x in service.next_batch(s, b)} | set(
                service.consultation_state(s, s.get(Consultation, cid), b).statements)
            assert (sid in seen) is shown_before
            if shown_before:
                assert service.submit_judgments(s, b, {sid: 3}) == 1
            else:
                with pytest.raises(InputError, match="no statement"):
                    service.submit_judgments(s, b, {sid: 3})
            s.rollback()
        with db.write() as s:
            c = s.get(Consultation, cid)
            if shown_before:  # a statement nobody sees yet cannot be flagged; it is in the queue as pending
                service.flag(s, _participant(s, people[1]), sid)
            queue = service.moderation_queue(s, c)
            assert [(q.sid, n) for q, n in queue] == [(sid, int(shown_before))]
            service.moderate(s, c, sid, "reject")
        with db.read() as s:
            c = s.get(Consultation, cid)
            assert sid not in service.consultation_state(s, c, _participant(s, people[2])).statements
            assert service.moderation_queue(s, c) == []


def test_judgments_latest_wins_and_bad_values_are_refused(db):
    cid, people = _consultation(db)
    with db.write() as s:
        a = _participant(s, people[0])
        assert service.submit_judgments(s, a, {"1": 2, "2": 4}) == 2
    with db.write() as s:
        service.submit_judgments(s, _participant(s, people[0]), {"1": "3"})
    with pytest.raises(InputError, match="must be one of"):
        with db.write() as s:
            service.submit_judgments(s, _participant(s, people[0]), {"2": 7})
    with pytest.raises(InputError, match="no statement '99'"):
        with db.write() as s:
            service.submit_judgments(s, _participant(s, people[0]), {"99": 1})
    with db.read() as s:
        profile = service.build_profile(s, s.get(Consultation, cid))
    row = profile.participant_index("1")
    assert profile.utilities[row, profile.statement_index("1")] == 3.0
    assert profile.utilities[row, profile.statement_index("2")] == 4.0  # the refused 7 changed nothing
    assert int(profile.observed.sum()) == 2


def _fill(db, cid, people, seed=0):
    rng = np.random.default_rng(seed)
    with db.write() as s:
        c = s.get(Consultation, cid)
        levels = service.get_scale(c.scale).values
        for n, pid in enumerate(people):
            p = _participant(s, pid)
            service.submit_opinion(s, p, f"Opinion {n}: the city should fund libraries and late buses")
        for pid in people:
            p = _participant(s, pid)
            sids = service.consultation_state(s, c, p).statements
            service.submit_judgments(s, p, {sid: levels[int(rng.integers(len(levels)))] for sid in sids
                                            if rng.random() < 0.8})


@pytest.mark.parametrize("scale", ["vote", "rating"])
def test_export_reads_back_to_the_same_profile(db, tmp_path, scale):
    cid, people = _consultation(db, scale=scale, moderation="permissive")
    _fill(db, cid, people)
    with db.write() as s:
        c = s.get(Consultation, cid)
        service.moderate(s, c, "2", "reject")  # a rejected statement and its votes stay out
        paths = service.export(s, c, tmp_path / "out")
        expected = service.build_profile(s, c, include_pending=True)
    back = load(tmp_path / "out" / ("polis" if scale == "vote" else "jsonl"))
    assert back.scale == expected.scale
    assert back.participant_ids == expected.participant_ids
    order = [back.statement_index(sid) for sid in expected.statement_ids if sid in back.statement_ids]
    kept = [j for j, sid in enumerate(expected.statement_ids) if sid in back.statement_ids]
    if scale == "vote":
        assert kept == list(range(expected.m))  # every statement is in comments.csv
        assert [s.text for s in back.statements] == [s.text for s in expected.statements]
        assert [p.answers for p in back.participants] == [p.answers for p in expected.participants]
        assert (tmp_path / "out" / "polis" / "summary.csv").is_file() and "votes.csv" in paths
    np.testing.assert_array_equal(back.observed[:, order], expected.observed[:, kept])
    np.testing.assert_array_equal(np.nan_to_num(back.utilities[:, order], nan=-9),
                                  np.nan_to_num(expected.utilities[:, kept], nan=-9))
    assert "2" not in back.statement_ids
    # participants are numbers only: no xid, no token in any exported file
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert "xid" not in f.read_text(errors="ignore").split("\n")[0]


def test_import_polis_export_continues_the_conversation(db, tmp_path):
    cid, people = _consultation(db, scale="vote", moderation="permissive")
    _fill(db, cid, people, seed=1)
    with db.write() as s:
        c = s.get(Consultation, cid)
        service.export(s, c, tmp_path / "out")
        original = service.build_profile(s, c, include_pending=True)
    with db.write() as s:
        c2 = service.import_polis(s, tmp_path / "out" / "polis", k=2)
        cid2 = c2.id
    with db.read() as s:
        c2 = s.get(Consultation, cid2)
        assert c2.question == "What should the city do?" and c2.scale == "vote"
        imported = service.build_profile(s, c2)
    assert imported.participant_ids == original.participant_ids
    assert imported.statement_ids == original.statement_ids
    np.testing.assert_array_equal(np.nan_to_num(imported.utilities, nan=-9), np.nan_to_num(original.utilities, nan=-9))
    with db.write() as s:  # new people join the imported consultation and get fresh numbers
        (p, _), = service.create_invites(s, s.get(Consultation, cid2), 1)
        assert p.number == max(int(x) for x in original.participant_ids) + 1
    with pytest.raises(InputError, match="not a Polis export folder"):
        with db.write() as s:
            service.import_polis(s, tmp_path)


def test_delete_participant_removes_everything_they_contributed(db):
    cid, people = _consultation(db, moderation="permissive")
    _fill(db, cid, people)
    with db.write() as s:
        c = s.get(Consultation, cid)
        before = service.build_profile(s, c)
        counts = service.delete_participant(s, c, 1)
    assert counts["statements"] == 1 and counts["judgments"] >= 1
    with db.read() as s:
        after = service.build_profile(s, s.get(Consultation, cid))
    assert "1" not in after.participant_ids and after.n == before.n - 1
    assert all(st.author != "1" for st in after.statements)
    assert int(after.observed.sum()) < int(before.observed.sum())
    with pytest.raises(InputError, match="no participant 1"):
        with db.write() as s:
            service.delete_participant(s, s.get(Consultation, cid), 1)


def test_validation_summary_is_evaluate_slate_on_the_validation_judgments(db):
    cid, people = _consultation(db, moderation="permissive")
    with db.write() as s:
        c = s.get(Consultation, cid)
        run = service.Run(consultation_id=c.id, slate_json=json.dumps({"statements": [
            {"id": "1", "text": "More bike lanes", "supporters": ["1", "2"]},
            {"id": "g-1", "text": "A statement the process wrote", "supporters": ["3", "4"]}]}),
            assignment_csv="participant,statement,utility,observed\n1,1,4.0,True\n", audit_json="{}",
            report_html=b"<html></html>")
        s.add(run)
        s.flush()
        service.publish(s, c, run.id)
        service.start_validation(s, c)
    ratings = {people[0]: (4, 1), people[1]: (3, 0), people[2]: (0, 4), people[3]: (2, 2)}
    with db.write() as s:
        for pid, (a, b) in ratings.items():
            p = _participant(s, pid)
            assert [x.sid for x in service.next_batch(s, p)] == ["1", "g-1"]
            service.submit_judgments(s, p, {"1": a, "g-1": b}, phase="validation")
    with db.read() as s:
        c = s.get(Consultation, cid)
        summary = service.validation_summary(s, c)
        profile = service.build_profile(s, c, include_pending=True, phase="validation")
        mine = service.my_result(s, c, _participant(s, people[0]))
    direct = evaluate_slate(profile, ["1", "g-1"])
    assert summary.to_dict() == direct.to_dict()
    assert summary.n == 4 and summary.total == 4 + 3 + 4 + 2
    assert mine.mine["id"] == "1" and mine.mine["observed"] and [x["supporters"] for x in mine.slate] == [2, 2]


def test_open_link_with_xid_recognises_returning_people_and_schedules_close(db):
    from datetime import timedelta

    with db.write() as s:
        c = service.create_consultation(s, question="q", writing_closes=(service.now() - timedelta(minutes=1))
                                        .isoformat(timespec="minutes"))
        token = service.set_open_link(s, c)
        cid = c.id
    with db.write() as s:
        first = service.join_open(s, token, "alice@example.org")
        again = service.join_open(s, token, "alice@example.org")
        anon = service.join_open(s, token)
        assert service.join_open(s, "wrong-token") is None
        assert first.id == again.id and anon.id != first.id and anon.number == first.number + 1
        with pytest.raises(InputError, match="writing is closed"):
            service.submit_opinion(s, first, "Too late for this one, sadly")
    with db.write() as s:
        newer = service.set_open_link(s, s.get(Consultation, cid))
    with db.write() as s:
        assert service.join_open(s, token) is None and service.join_open(s, newer) is not None


def test_cli_export_and_delete_participant(db, db_url, tmp_path):
    from typer.testing import CliRunner

    from pnyx.cli import app

    cid, people = _consultation(db, scale="vote", moderation="permissive")
    _fill(db, cid, people)
    runner = CliRunner()
    out = runner.invoke(app, ["export", db_url, str(cid), str(tmp_path / "exp")])
    assert out.exit_code == 0, out.output
    assert load(tmp_path / "exp" / "polis").n == 4
    out = runner.invoke(app, ["delete-participant", db_url, str(cid), "2"])
    assert out.exit_code == 0 and "deleted participant 2" in out.output
    runner.invoke(app, ["export", db_url, str(cid), str(tmp_path / "exp2")])
    assert "2" not in load(tmp_path / "exp2" / "polis").participant_ids
    for args, message in ((["delete-participant", db_url, str(cid), "2"], "no participant 2"),
                          (["export", db_url, "99", str(tmp_path / "x")], "no consultation"),
                          (["export", "mysql://x/y", "1", str(tmp_path / "x")], "unsupported database URL")):
        out = runner.invoke(app, args)
        assert out.exit_code == 2 and message in out.output, out.output
        assert "Traceback" not in out.output


def test_the_chooser_is_pluggable(db):
    cid, people = _consultation(db)
    seen = {}

    def last_first(participant, state):
        seen["profile"] = state.load_profile()
        return list(reversed(state.statements))[: state.batch]

    with db.read() as s:
        p = _participant(s, people[0])
        batch = service.next_batch(s, p, last_first)
    assert [st.sid for st in batch] == ["5", "4", "3", "2", "1"]
    assert seen["profile"].statement_ids == ["1", "2", "3", "4", "5"] and seen["profile"].n == 4


def test_numbers_texts_and_times_the_database_cannot_hold_are_refused(db):
    with db.write() as s:
        for field in ("seed", "word_budget", "k"):
            with pytest.raises(InputError, match=f"field '{field}': must be between"):
                service.create_consultation(s, question="q", **{field: str(2**63)})
        with pytest.raises(InputError, match="field 'question': contains a NUL"):
            service.create_consultation(s, question="a\x00b")
        c = service.create_consultation(s, question="q", writing_closes="2026-12-31T18:00+05:00",
                                        rating_closes="2026-12-31T18:00")
        assert (c.writing_closes.isoformat(), c.rating_closes.isoformat()) == ("2026-12-31T13:00:00",
                                                                              "2026-12-31T18:00:00")
        with pytest.raises(InputError, match="no consultation"):
            service.get_consultation(s, 2**63)
        with pytest.raises(InputError, match="field 'run': must be between"):
            service.publish(s, c, 2**63)
        with pytest.raises(InputError, match="field 'xids': at most 200 characters"):
            service.create_invites(s, c, 0, ["x" * 201])
        [(p, _)] = service.create_invites(s, c, 1)
        with pytest.raises(InputError, match="field 'opinion': contains a NUL"):
            service.submit_opinion(s, p, "buses\x00 and trams")
        assert service.row_id("12") == 12 and service.row_id(0) is None and service.row_id(2**31) is None


def test_an_open_link_never_opens_an_invited_participants_account(db):
    with db.write() as s:
        c = service.create_consultation(s, question="q")
        [(alice, _)] = service.create_invites(s, c, 0, ["alice@example.org"])
        token = service.set_open_link(s, c)
    with db.write() as s:
        with pytest.raises(InputError, match="belongs to an invited participant"):
            service.join_open(s, token, "alice@example.org")
        with pytest.raises(InputError, match="field 'xid': at most 200"):
            service.join_open(s, token, "x" * 201)
        visitor = service.join_open(s, token, "bob@example.org")
        assert visitor.via == "open" and service.join_open(s, token, "bob@example.org").id == visitor.id


def test_a_hidden_statement_cannot_be_flagged_and_looks_like_none(db):
    cid, people = _consultation(db, moderation="strict")
    with db.write() as s:
        sid = service.submit_opinion(s, _participant(s, people[0]), "We need safer crossings near schools").sid
    with db.write() as s:
        messages = []
        for target in (sid, "999"):
            with pytest.raises(InputError) as err:
                service.flag(s, _participant(s, people[1]), target)
            messages.append(str(err.value).replace(repr(target), "X"))
        assert messages[0] == messages[1] == "field 'statement': no statement X"
        service.moderate(s, s.get(Consultation, cid), sid, "approve")
        service.flag(s, _participant(s, people[1]), sid)
        assert [(q.sid, n) for q, n in service.moderation_queue(s, s.get(Consultation, cid))] == [(sid, 1)]


def test_a_new_organiser_secret_ends_the_organiser_sessions(db):
    with db.write() as s:
        service.set_admin_secret(s)
        c = service.create_consultation(s, question="q")
        [(p, _)] = service.create_invites(s, c, 1)
        admin, participant = service.new_session(s, admin=True), service.new_session(s, participant=p)
    with db.write() as s:
        assert service.session_of(s, admin).is_admin
        service.set_admin_secret(s)
    with db.read() as s:
        assert service.session_of(s, admin) is None and service.session_of(s, participant) is not None
