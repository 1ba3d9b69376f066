"""What organisers and participants can do, as functions over a database session (no HTTP here).

The web app (:mod:`pnyx.serve.app`) and the command line call these. Invalid input raises
:class:`pnyx.data.InputError` with a one-line reason; nothing is written then.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import io
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from pnyx.data import InputError
from pnyx.data import Judgment as PJudgment
from pnyx.data import Participant as PParticipant
from pnyx.data import Profile
from pnyx.data import Statement as PStatement
from pnyx.scale import get_scale
from pnyx.serve.chooser import Chooser, ConsultationState, least_rated
from pnyx.serve.models import (Consultation, Flag, Judgment, Participant, Run, Setting, Statement, now)
from pnyx.serve.models import Session as WebSession

SEED_COLUMNS = ("comment-body", "text", "statement")
MAX_ID = 2**31 - 1
"""The largest whole number the database's integer columns hold (PostgreSQL ``integer``)."""
MAX_XID = 200
"""The longest external id (the ``xid`` column's length)."""


# -- secrets ------------------------------------------------------------------------------------------
def new_token() -> str:
    """A random URL-safe token (192 bits)."""
    return secrets.token_urlsafe(24)


def digest(token: str) -> str:
    """SHA-256 (hex) of a token: high-entropy random tokens need no slow hash, and a digest can be looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def server_key(s: Session) -> bytes:
    """The server's random key for CSRF tokens (created on first use)."""
    row = s.get(Setting, "csrf_key")
    if row is None:
        row = Setting(key="csrf_key", value=secrets.token_hex(32))
        s.add(row)
        s.flush()
    return bytes.fromhex(row.value)


def csrf_token(key: bytes, session_cookie: str) -> str:
    """The CSRF token of a session: an HMAC of its cookie, so it needs no storage and dies with the session."""
    return hmac.new(key, b"csrf|" + session_cookie.encode(), hashlib.sha256).hexdigest()


def check_csrf(key: bytes, session_cookie: str, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(key, session_cookie), token)


def set_admin_secret(s: Session) -> str:
    """Make a new organiser secret (the old one and every organiser session stop working); returns it; only
    its digest is stored."""
    secret = new_token()
    s.execute(delete(WebSession).where(WebSession.is_admin))
    row = s.get(Setting, "admin_secret")
    if row is None:
        s.add(Setting(key="admin_secret", value=digest(secret)))
    else:
        row.value = digest(secret)
    return secret


def has_admin_secret(s: Session) -> bool:
    return s.get(Setting, "admin_secret") is not None


def check_admin_secret(s: Session, secret: str) -> bool:
    row = s.get(Setting, "admin_secret")
    return row is not None and hmac.compare_digest(row.value, digest(secret))


def new_session(s: Session, *, participant: Participant | None = None, admin: bool = False) -> str:
    """A session cookie value for an organiser or a participant (stored as its digest)."""
    cookie = new_token()
    s.add(WebSession(token_hash=digest(cookie), participant_id=None if participant is None else participant.id,
                     is_admin=admin))
    return cookie


def session_of(s: Session, cookie: str | None) -> WebSession | None:
    return None if not cookie else s.get(WebSession, digest(cookie))


# The rating paths' queries, built once (SQLAlchemy then reuses their compiled form; values are bound).
_PARTICIPANT_ROW = (select(Participant.id, Participant.number, Participant.consultation_id)
                    .join(WebSession, WebSession.participant_id == Participant.id)
                    .where(WebSession.token_hash == bindparam("digest")))
_CONSULTATION_ROW = select(Consultation.id, Consultation.scale, Consultation.moderation, Consultation.phase,
                           Consultation.rating_closes, Consultation.published_run_id, Consultation.seed,
                           Consultation.k).where(Consultation.id == bindparam("cid"))
_SHOWN = (Statement.consultation_id == bindparam("cid")) & Statement.status.in_(bindparam("ok", expanding=True))
_VISIBLE = select(Statement.sid, Statement.author_id).where(_SHOWN).order_by(Statement.id)
_VISIBLE_IDS = select(Statement.sid, Statement.id).where(_SHOWN, Statement.sid.in_(bindparam("sids", expanding=True)))
_TEXTS = select(Statement.id, Statement.sid, Statement.text).where(
    Statement.consultation_id == bindparam("cid"), Statement.sid.in_(bindparam("sids", expanding=True)))
_DONE = (select(Statement.sid).join(Judgment, Judgment.statement_id == Statement.id)
         .where(Judgment.participant_id == bindparam("pid"), Judgment.phase == "rating")
         .union(select(Statement.sid).join(Flag, Flag.statement_id == Statement.id)
                .where(Flag.participant_id == bindparam("pid"))))


def participant_row(s: Session, cookie: str | None):
    """``(id, number, consultation_id)`` of the participant whose session ``cookie`` is, or None (one query,
    no ORM object: the path of every judgment)."""
    if not cookie:
        return None
    return s.execute(_PARTICIPANT_ROW, {"digest": digest(cookie)}).first()


def consultation_row(s: Session, cid: int):
    """What the rating paths read of a consultation (``id``, ``scale``, ``moderation``, ``phase``,
    ``rating_closes``, ``published_run_id``, ``seed``, ``k``) as one row, no ORM object."""
    return s.execute(_CONSULTATION_ROW, {"cid": cid}).one()


def participant_of_session(s: Session, cookie: str | None) -> Participant | None:
    """The participant whose session ``cookie`` is (one query)."""
    if not cookie:
        return None
    return s.scalar(select(Participant).join(WebSession, WebSession.participant_id == Participant.id)
                    .where(WebSession.token_hash == digest(cookie)))


# -- consultations ------------------------------------------------------------------------------------
def _int(value: Any, name: str, lo: int, hi: int = MAX_ID, *, optional: bool = False) -> int | None:
    if value in (None, "") and optional:
        return None
    try:
        v = int(str(value).strip())
    except ValueError:
        raise InputError(f"must be a whole number, got {value!r}", field=name) from None
    if not lo <= v <= hi:
        raise InputError(f"must be between {lo} and {hi}, got {v}", field=name)
    return v


def row_id(value: Any) -> int | None:
    """``value`` as a database row id, or None if it cannot be one (not a whole number, or out of range)."""
    try:
        return _int(value, "id", 1)
    except InputError:
        return None


def _text(value: Any, name: str, max_chars: int | None = None) -> str:
    """``value`` as stripped text: refused if it is not text, holds a NUL character (PostgreSQL cannot store
    one) or is longer than ``max_chars``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"expected text, got {type(value).__name__}", field=name)
    if "\x00" in value:
        raise InputError("contains a NUL character", field=name)
    value = value.strip()
    if max_chars is not None and len(value) > max_chars:
        raise InputError(f"at most {max_chars} characters, got {len(value)}", field=name)
    return value


def _when(value: Any, name: str) -> datetime | None:
    """A date and time as naive UTC (the database's convention); one with a UTC offset is converted."""
    if value in (None, ""):
        return None
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(_text(value, name))
        except ValueError:
            raise InputError(f"expected a date and time like 2026-12-31T18:00, got {value!r}", field=name) from None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def create_consultation(s: Session, *, question: str, description: str = "", scale: str = "rating", k: Any = 3,
                        word_budget: Any = None, max_chars: Any = 500, moderation: str = "strict",
                        writing_closes: Any = None, rating_closes: Any = None, seed: Any = 0) -> Consultation:
    """A new consultation. ``scale``: ``rating`` (0–4) or ``vote``; ``moderation``: ``strict`` or ``permissive``."""
    question = _text(question, "question")
    if not question:
        raise InputError("a consultation needs a question", field="question")
    if scale not in ("rating", "vote"):
        raise InputError("must be 'rating' or 'vote'", field="scale")
    if moderation not in ("strict", "permissive"):
        raise InputError("must be 'strict' or 'permissive'", field="moderation")
    c = Consultation(question=question[:2000], description=_text(description, "description")[:10000], scale=scale,
                     k=_int(k, "k", 1, 50), word_budget=_int(word_budget, "word_budget", 1, optional=True),
                     max_chars=_int(max_chars, "max_chars", 20, 5000), moderation=moderation,
                     writing_closes=_when(writing_closes, "writing_closes"),
                     rating_closes=_when(rating_closes, "rating_closes"), seed=_int(seed, "seed", 0))
    s.add(c)
    s.flush()
    return c


def get_consultation(s: Session, cid: Any) -> Consultation:
    rid = row_id(cid)
    c = None if rid is None else s.get(Consultation, rid)
    if c is None:
        raise InputError(f"no consultation {cid!r}", field="consultation")
    return c


def writing_open(c: Consultation) -> bool:
    return c.phase == "collecting" and (c.writing_closes is None or now() < c.writing_closes)


def rating_open(c: Consultation) -> bool:
    return c.phase == "collecting" and (c.rating_closes is None or now() < c.rating_closes)


def _lock(s: Session, c: Consultation) -> None:
    """Serialise number allocation within a consultation (a row lock on PostgreSQL; SQLite has one writer)."""
    s.execute(select(Consultation.id).where(Consultation.id == c.id).with_for_update())


def _next_sid(s: Session, c: Consultation) -> int:
    sids = s.scalars(select(Statement.sid).where(Statement.consultation_id == c.id)).all()
    return max((int(x) for x in sids if x.isdigit()), default=0) + 1


def add_statements(s: Session, c: Consultation, texts: Iterable[str], *, source: str = "seed",
                   author: Participant | None = None, status: str = "approved") -> list[Statement]:
    """Append statements (ids ``1, 2, …`` in order); blank texts and exact duplicates of existing ones are skipped."""
    _lock(s, c)
    existing = {" ".join(t.split()).casefold()
                for t in s.scalars(select(Statement.text).where(Statement.consultation_id == c.id))}
    nxt = _next_sid(s, c)
    out = []
    for text in texts:
        text = _text(text, "statement")
        key = " ".join(text.split()).casefold()
        if not text or key in existing:
            continue
        existing.add(key)
        st = Statement(consultation_id=c.id, sid=str(nxt), text=text, source=source, status=status,
                       author_id=None if author is None else author.id)
        s.add(st)
        out.append(st)
        nxt += 1
    s.flush()
    return out


def parse_seed_csv(data: bytes, *, name: str = "upload") -> list[str]:
    """Statement texts from a CSV whose header has ``comment-body`` (Polis), ``text`` or ``statement``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", path=name) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in reader.fieldnames or []]
        column = next((h for h in SEED_COLUMNS if h in header), None)
        if column is None:
            raise InputError(f"no statement column: the header needs one of {', '.join(SEED_COLUMNS)}",
                             path=name, line=1)
        reader.fieldnames = header
        texts = [row[column] for row in reader if (row.get(column) or "").strip()]
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", path=name, line=reader.line_num) from None
    if not texts:
        raise InputError("no statements", path=name)
    return texts


def seed_from_csv(s: Session, c: Consultation, data: bytes, *, name: str = "upload") -> list[Statement]:
    return add_statements(s, c, parse_seed_csv(data, name=name), source="seed")


# -- participants -------------------------------------------------------------------------------------
def _next_number(s: Session, c: Consultation) -> int:
    return (s.scalar(select(func.max(Participant.number)).where(Participant.consultation_id == c.id)) or 0) + 1


def create_invites(s: Session, c: Consultation, count: Any = 0, xids: Sequence[str] = ()) -> list[tuple[Participant, str]]:
    """One invite per xid given, plus ``count`` without one; returns (participant, token) — the token is
    not stored, so this is the only time it can be shown."""
    xids = [x for x in (_text(x, "xids", MAX_XID) for x in xids) if x]
    n = _int(count or 0, "count", 0, 10000)
    if len(set(xids)) != len(xids):
        raise InputError("each xid may be given once", field="xids")
    known = set(s.scalars(select(Participant.xid).where(Participant.consultation_id == c.id,
                                                        Participant.xid.in_(xids))))
    if known:
        raise InputError(f"xid already invited: {', '.join(sorted(known))}", field="xids")
    _lock(s, c)
    nxt = _next_number(s, c)
    out = []
    for a, xid in enumerate([*xids, *[None] * n]):
        token = new_token()
        p = Participant(consultation_id=c.id, number=nxt + a, token_hash=digest(token), xid=xid, via="invite")
        s.add(p)
        out.append((p, token))
    s.flush()
    return out


def set_open_link(s: Session, c: Consultation) -> str:
    """A new open link token for ``c`` (the old one stops working)."""
    token = new_token()
    c.open_token_hash = digest(token)
    return token


def participant_by_token(s: Session, token: str) -> Participant | None:
    return s.scalar(select(Participant).where(Participant.token_hash == digest(token)))


def join_open(s: Session, token: str, xid: str | None = None) -> Participant | None:
    """The participant an open-link visit is (the one who came by the open link with this xid before, or a
    new one); None for a wrong token. The xid is the embedding site's word for who the visitor is (as in
    Polis), so it never opens an invited participant's account.

    Raises
    ------
    InputError
        The xid is an invited participant's, or too long.
    """
    c = s.scalar(select(Consultation).where(Consultation.open_token_hash == digest(token)))
    if c is None:
        return None
    xid = _text(xid, "xid", MAX_XID) or None
    if xid is not None:
        p = s.scalar(select(Participant).where(Participant.consultation_id == c.id, Participant.xid == xid))
        if p is not None and p.via != "open":
            raise InputError("this id belongs to an invited participant: open your invite link", field="xid")
        if p is not None:
            return p
    _lock(s, c)
    p = Participant(consultation_id=c.id, number=_next_number(s, c), xid=xid, via="open", joined_at=now())
    s.add(p)
    s.flush()
    return p


def shown_statuses(c: Consultation) -> list[str]:
    """Statuses of the statements participants see."""
    return ["approved"] if c.moderation == "strict" else ["approved", "pending"]


def visible(c: Consultation):
    """SQL condition: statements participants see."""
    return (Statement.consultation_id == c.id) & Statement.status.in_(shown_statuses(c))


def submit_opinion(s: Session, p: Participant, text: str) -> Statement | None:
    """The participant's opinion, as an answer and a statement (pending in strict moderation). The author's
    own statement counts as their top judgment (Polis: the author agrees). Returns None for a duplicate."""
    c = s.get(Consultation, p.consultation_id)
    if not writing_open(c):
        raise InputError("writing is closed for this consultation", field="opinion")
    text = _text(text, "opinion")
    if not text:
        raise InputError("write something first", field="opinion")
    if len(text) > c.max_chars:
        raise InputError(f"at most {c.max_chars} characters, got {len(text)}", field="opinion")
    status = "pending" if c.moderation == "strict" else "approved"
    made = add_statements(s, c, [text], source="participant", author=p, status=status)
    if not made:
        return None
    top = max(get_scale(c.scale).values)
    s.add(Judgment(consultation_id=c.id, participant_id=p.id, statement_id=made[0].id, value=float(top)))
    return made[0]


def _statements_by_sid(s: Session, c: Consultation, sids: Iterable[str]) -> dict[str, Statement]:
    sids = list(sids)
    return {st.sid: st for st in s.scalars(select(Statement).where(Statement.consultation_id == c.id,
                                                                    Statement.sid.in_(sids)))}


def submit_judgments(s: Session, p: Participant, values: dict[str, Any], *, phase: str = "rating") -> int:
    """Record (or replace) the participant's judgments, statement id → value in the consultation's scale.

    Raises
    ------
    InputError
        Rating is closed, a statement is unknown or not shown to participants, or a value is off the scale.
    """
    rows = check_judgments(s, p, values, phase=phase)
    save_judgments(s, rows)
    return len(rows)


def check_judgments(s: Session, p: Any, values: dict[str, Any], *, phase: str | None = None) -> list[dict]:
    """The rows :func:`save_judgments` writes, after every check of :func:`submit_judgments` (reads only).
    ``p``: a participant, or a row with its ``id`` and ``consultation_id`` (:func:`participant_row`);
    ``phase``: ``rating`` or ``validation`` (default: the consultation's)."""
    c = consultation_row(s, p.consultation_id)
    if phase is None:
        phase = "validation" if c.phase == "validation" else "rating"
    if phase == "rating" and not rating_open(c):
        raise InputError("rating is closed for this consultation", field="judgment")
    if phase == "validation" and c.phase != "validation":
        raise InputError("the validation phase is not open", field="judgment")
    levels = get_scale(c.scale).values
    parsed: dict[str, float] = {}
    for sid, raw in values.items():
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise InputError(f"not a judgment: {raw!r}", field=f"statement {sid}") from None
        if v not in levels:
            raise InputError(f"must be one of {', '.join(str(x) for x in levels)}", field=f"statement {sid}")
        parsed[str(sid)] = v
    if not parsed:
        return []
    if phase == "validation":
        allowed = set(slate_sids(s, c))
        found = dict(s.execute(select(Statement.sid, Statement.id).where(
            Statement.consultation_id == c.id, Statement.sid.in_([x for x in parsed if x in allowed]))).all())
    else:
        found = dict(s.execute(_VISIBLE_IDS, {"cid": c.id, "ok": shown_statuses(c), "sids": list(parsed)}).all())
    for sid in parsed:
        if sid not in found:
            raise InputError(f"no statement {sid!r} to judge", field="statement")
    stamp = now()
    return [{"consultation_id": c.id, "participant_id": p.id, "statement_id": found[sid], "value": v,
             "phase": phase, "created_at": stamp} for sid, v in parsed.items()]


def save_judgments(s: Session, rows: list[dict]) -> None:
    """INSERT … ON CONFLICT (participant, statement, phase) DO UPDATE: the latest judgment wins, in one statement."""
    if rows:
        s.execute(_upsert(s.get_bind().dialect.name), rows)


@functools.cache
def _upsert(dialect: str):
    """The upsert, built once per dialect so that SQLAlchemy compiles it once (executed with many rows)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(Judgment)
    return stmt.on_conflict_do_update(index_elements=["participant_id", "statement_id", "phase"],
                                      set_={"value": stmt.excluded.value, "created_at": stmt.excluded.created_at})


def flag(s: Session, p: Participant, sid: str) -> None:
    """The participant reports a statement shown to them to the moderators (once); it is not shown to them
    again. A statement they cannot see is reported as unknown, like one that does not exist."""
    c = s.get(Consultation, p.consultation_id)
    shown = s.execute(_VISIBLE_IDS, {"cid": c.id, "ok": shown_statuses(c), "sids": [str(sid)]}).first()
    if shown is None:
        raise InputError(f"no statement {sid!r}", field="statement")
    if s.scalar(select(Flag.id).where(Flag.statement_id == shown.id, Flag.participant_id == p.id)) is None:
        s.add(Flag(statement_id=shown.id, participant_id=p.id))


def moderate(s: Session, c: Consultation, sid: str, action: str) -> Statement:
    if action not in ("approve", "reject"):
        raise InputError("must be 'approve' or 'reject'", field="action")
    st = _statements_by_sid(s, c, [sid]).get(str(sid))
    if st is None:
        raise InputError(f"no statement {sid!r}", field="statement")
    st.status = "approved" if action == "approve" else "rejected"
    return st


def moderation_queue(s: Session, c: Consultation) -> list[tuple[Statement, int]]:
    """Statements to look at: pending ones and flagged ones not yet rejected, most flagged first."""
    flags = (select(Flag.statement_id, func.count().label("n")).group_by(Flag.statement_id).subquery())
    rows = s.execute(select(Statement, func.coalesce(flags.c.n, 0))
                     .outerjoin(flags, flags.c.statement_id == Statement.id)
                     .where(Statement.consultation_id == c.id, Statement.status != "rejected",
                            (Statement.status == "pending") | (flags.c.n > 0))
                     .order_by(func.coalesce(flags.c.n, 0).desc(), Statement.id)).all()
    return [(st, int(n)) for st, n in rows]


# -- what to rate -------------------------------------------------------------------------------------
COUNTS_TTL = 1.0
"""Seconds the judgment counts per statement are reused for choosing (they only order what to ask next)."""
_counts: dict[tuple[str, int], tuple[float, dict[str, int]]] = {}


def judgment_counts(s: Session, c: Consultation) -> dict[str, int]:
    """Rating-phase judgments per statement id, at most :data:`COUNTS_TTL` seconds old (one aggregate over
    the consultation's judgments, not one per request)."""
    key = (str(s.get_bind().url), c.id)
    hit = _counts.get(key)
    if hit is not None and time.monotonic() - hit[0] < COUNTS_TTL:
        return hit[1]
    counts = {sid: int(n) for sid, n in s.execute(
        select(Statement.sid, func.count(Judgment.id)).join(Judgment, Judgment.statement_id == Statement.id)
        .where(Statement.consultation_id == c.id, Judgment.phase == "rating").group_by(Statement.sid))}
    _counts[key] = (time.monotonic(), counts)
    return counts


def _profile_loader(s: Session, cid: int):
    """``load_profile`` of a :class:`ConsultationState`: the profile read in a session of its own (so that a
    chooser may call it after the request's session is closed, from another thread)."""
    bind = s.get_bind()

    def load() -> Profile:
        with Session(bind) as own:
            return build_profile(own, own.get(Consultation, cid))

    return load


def consultation_state(s: Session, c: Consultation, p: Participant) -> ConsultationState:
    """The snapshot a chooser sees, with ``done`` filled for ``p``."""
    sts = s.execute(_VISIBLE, {"cid": c.id, "ok": shown_statuses(c)}).all()
    counts = judgment_counts(s, c)
    done = set(s.scalars(_DONE, {"pid": p.id}))
    done |= {sid for sid, author in sts if author == p.id}
    return ConsultationState(consultation=c.id, seed=c.seed, statements=[sid for sid, _ in sts], counts=counts,
                             done={str(p.number): done}, k=c.k, load_profile=_profile_loader(s, c.id),
                             source=str(s.get_bind().url))


def judged_count(s: Session, p: Participant) -> int:
    """The participant's rating-phase judgments (their own statement counts as one)."""
    return s.scalar(select(func.count()).where(Judgment.participant_id == p.id, Judgment.phase == "rating")) or 0


def next_batch(s: Session, p: Participant, chooser: Chooser = least_rated, *,
               per_participant: int | None = None) -> list[Statement]:
    """The next statements for ``p`` to rate (in the validation phase: the slate statements not yet rated),
    as ``chooser`` ranks them; none once ``p`` has made ``per_participant`` judgments (None: no limit)."""
    c = consultation_row(s, p.consultation_id)
    if c.phase == "validation":
        done = set(s.scalars(select(Judgment.statement_id).where(Judgment.participant_id == p.id,
                                                                 Judgment.phase == "validation")))
        by = _statements_by_sid(s, c, slate_sids(s, c))
        return [by[x] for x in slate_sids(s, c) if x in by and by[x].id not in done]
    if not rating_open(c):
        return []
    state = consultation_state(s, c, p)
    if per_participant is not None:
        state.batch = min(state.batch, per_participant - judged_count(s, p))
        if state.batch <= 0:
            return []
    sids = chooser(str(p.number), state)[: state.batch]
    by = {st.sid: st for st in s.execute(_TEXTS, {"cid": c.id, "sids": sids})}
    return [by[x] for x in sids if x in by]


def own_data(s: Session, p: Participant) -> dict[str, Any]:
    """Everything the participant contributed: their statements (with moderation status) and judgments."""
    statements = s.scalars(select(Statement).where(Statement.author_id == p.id).order_by(Statement.id)).all()
    judgments = s.execute(select(Statement.sid, Statement.text, Judgment.value, Judgment.phase)
                          .join(Statement, Statement.id == Judgment.statement_id)
                          .where(Judgment.participant_id == p.id).order_by(Judgment.id)).all()
    return {"participant": p.number,
            "statements": [{"id": st.sid, "text": st.text, "status": st.status} for st in statements],
            "judgments": [{"statement": sid, "text": text, "value": v, "phase": ph} for sid, text, v, ph in judgments]}


# -- the profile and results --------------------------------------------------------------------------
def build_profile(s: Session, c: Consultation, *, include_pending: bool | None = None,
                  phase: str = "rating") -> Profile:
    """The consultation as a :class:`pnyx.data.Profile`: every participant who joined or contributed (id =
    their pseudonymous number), the statements shown to participants (``include_pending``: also those
    awaiting moderation; default: as the moderation mode shows them), each participant's own statements as
    their answers, and the latest judgment per pair in ``phase``."""
    if include_pending is None:
        include_pending = c.moderation == "permissive"
    ok = ["approved", "pending"] if include_pending else ["approved"]
    sts = s.scalars(select(Statement).where(Statement.consultation_id == c.id, Statement.status.in_(ok))
                    .order_by(Statement.id)).all()
    if phase == "validation":
        keep = set(slate_sids(s, c))
        sts = [st for st in sts if st.sid in keep]
    rows = s.execute(select(Participant.number, Statement.sid, Judgment.value)
                     .join(Participant, Participant.id == Judgment.participant_id)
                     .join(Statement, Statement.id == Judgment.statement_id)
                     .where(Judgment.consultation_id == c.id, Judgment.phase == phase,
                            Statement.status.in_(ok))).all()
    kept = {st.sid for st in sts}
    rows = [r for r in rows if r[1] in kept]
    people = s.execute(select(Participant.id, Participant.number, Participant.joined_at)
                       .where(Participant.consultation_id == c.id).order_by(Participant.number)).all()
    numbers = {pid: num for pid, num, _ in people}
    answers: dict[int, dict[str, str]] = {}
    for st in sts:
        if st.author_id is not None:
            answers.setdefault(numbers[st.author_id], {})[st.sid] = st.text
    judged = {r[0] for r in rows}
    if phase == "validation":
        members = sorted(judged)
    else:
        members = [num for _, num, joined in people if joined is not None or num in judged or num in answers]
    participants = [PParticipant(str(num), answers.get(num, {})) for num in members]
    statements = [PStatement(st.sid, st.text, None if st.author_id is None else str(numbers[st.author_id]))
                  for st in sts]
    judgments = [PJudgment(str(num), sid, float(v)) for num, sid, v in rows]
    return Profile.from_judgments(participants, statements, judgments, c.scale, source=f"consultation {c.id}",
                                  info={"format": "pnyx-serve", "topic": c.question})


def stats(s: Session, c: Consultation) -> dict[str, int]:
    """The dashboard's counts; ``predicted`` is what the process will have to predict (participants ×
    statements shown, minus the observed judgments)."""
    participants = s.scalar(select(func.count()).where(Participant.consultation_id == c.id,
                                                       Participant.joined_at.is_not(None))) or 0
    invited = s.scalar(select(func.count()).where(Participant.consultation_id == c.id)) or 0
    opinions = s.scalar(select(func.count()).where(Statement.consultation_id == c.id,
                                                   Statement.source == "participant")) or 0
    shown = s.scalar(select(func.count()).where(visible(c))) or 0
    observed = s.scalar(select(func.count(Judgment.id)).join(Statement, Statement.id == Judgment.statement_id)
                        .where(visible(c), Judgment.phase == "rating")) or 0
    pending = s.scalar(select(func.count()).where(Statement.consultation_id == c.id,
                                                  Statement.status == "pending")) or 0
    validation = s.scalar(select(func.count()).where(Judgment.consultation_id == c.id,
                                                     Judgment.phase == "validation")) or 0
    return {"participants": participants, "invited": invited, "opinions": opinions, "statements": shown,
            "pending": pending, "judgments": observed, "observed": observed,
            "predicted": max(0, participants * shown - observed), "validation_judgments": validation}


def save_run(s: Session, c: Consultation, folder: Path, job_id: int | None = None) -> Run:
    """Store the four outputs written into ``folder`` as a run of ``c``."""
    r = Run(consultation_id=c.id, job_id=job_id, slate_json=(folder / "slate.json").read_text(encoding="utf-8"),
            assignment_csv=(folder / "assignment.csv").read_text(encoding="utf-8"),
            audit_json=(folder / "audit.json").read_text(encoding="utf-8"),
            report_html=(folder / "report.html").read_bytes())
    s.add(r)
    s.flush()
    return r


def published_run(s: Session, c: Consultation) -> Run | None:
    return None if c.published_run_id is None else s.get(Run, c.published_run_id)


def slate_sids(s: Session, c: Consultation) -> list[str]:
    r = published_run(s, c)
    return [] if r is None else [x["id"] for x in json.loads(r.slate_json)["statements"]]


def publish(s: Session, c: Consultation, run_id: Any) -> Run:
    """Publish a run's slate: participants see it and whom each statement speaks for. Slate statements the
    process wrote itself become statements of the consultation (source ``slate``) so they can be validated."""
    r = s.get(Run, _int(run_id, "run", 1))
    if r is None or r.consultation_id != c.id:
        raise InputError(f"no run {run_id!r} in this consultation", field="run")
    items = json.loads(r.slate_json)["statements"]
    have = _statements_by_sid(s, c, [x["id"] for x in items])
    for x in items:
        if x["id"] not in have:
            s.add(Statement(consultation_id=c.id, sid=x["id"], text=x["text"], source="slate", status="approved"))
    c.published_run_id, c.phase = r.id, "published"
    return r


def start_validation(s: Session, c: Consultation) -> None:
    """Open the validation phase: participants rate every statement of the published slate."""
    if c.published_run_id is None:
        raise InputError("publish a slate first", field="validation")
    c.phase = "validation"


def validation_summary(s: Session, c: Consultation):
    """:func:`pnyx.evaluate.slate.evaluate_slate` on the validation judgments, or None if too few so far."""
    from pnyx.evaluate.slate import evaluate_slate

    sids = slate_sids(s, c)
    if not sids:
        return None
    profile = build_profile(s, c, include_pending=True, phase="validation")
    if profile.n == 0:
        return None
    try:
        return evaluate_slate(profile, sids)
    except InputError:
        return None


@dataclass
class MyResult:
    """What a participant sees after publication."""

    slate: list[dict[str, Any]]
    """Statements with ``text`` and ``supporters`` (how many participants each speaks for)."""
    mine: dict[str, Any] | None
    """The statement assigned to this participant, their ``utility`` for it and whether it was ``observed``."""


def my_result(s: Session, c: Consultation, p: Participant) -> MyResult | None:
    r = published_run(s, c)
    if r is None:
        return None
    slate = [{"id": x["id"], "text": x["text"], "supporters": len(x["supporters"])}
             for x in json.loads(r.slate_json)["statements"]]
    mine = None
    for row in csv.DictReader(io.StringIO(r.assignment_csv)):
        if row["participant"] == str(p.number):
            item = next((x for x in slate if x["id"] == row["statement"]), None)
            if item is not None:
                mine = {**item, "utility": float(row["utility"]), "observed": row["observed"] == "True"}
            break
    return MyResult(slate=slate, mine=mine)


# -- deletion, export and import ----------------------------------------------------------------------
def delete_participant(s: Session, c: Consultation, number: Any) -> dict[str, int]:
    """Delete a participant and everything they contributed (their statements with the judgments of them,
    their judgments, flags and sessions). Returns what was deleted, by kind."""
    p = s.scalar(select(Participant).where(Participant.consultation_id == c.id,
                                           Participant.number == _int(number, "participant", 1)))
    if p is None:
        raise InputError(f"no participant {number!r} in consultation {c.id}", field="participant")
    own = s.scalars(select(Statement.id).where(Statement.author_id == p.id)).all()
    counts = {
        "judgments": s.execute(delete(Judgment).where((Judgment.participant_id == p.id)
                                                      | Judgment.statement_id.in_(own))).rowcount,
        "flags": s.execute(delete(Flag).where((Flag.participant_id == p.id) | Flag.statement_id.in_(own))).rowcount,
        "statements": s.execute(delete(Statement).where(Statement.id.in_(own))).rowcount,
        "sessions": s.execute(delete(WebSession).where(WebSession.participant_id == p.id)).rowcount,
    }
    s.delete(p)
    return counts


def export(s: Session, c: Consultation, folder: str | Path) -> dict[str, Path]:
    """Write ``folder/polis/`` (Polis CSVs: comments, votes, participants-votes, summary) and ``folder/jsonl/``
    (pnyx JSONL + slate.json), and each run's four outputs under ``folder/runs/<id>/``.

    Participants appear only by their pseudonymous number (never an xid). The Polis files, read back by
    :func:`pnyx.io.load`, give :func:`build_profile` ``(include_pending=True)`` for vote consultations; the
    JSONL files give it for rating consultations (vote consultations: utilities on the 0–4 scale).
    """
    from pnyx.io import write_csv, write_json, write_jsonl

    folder = Path(folder)
    profile = build_profile(s, c, include_pending=True)
    sts = s.scalars(select(Statement).where(Statement.consultation_id == c.id).order_by(Statement.id)).all()
    numbers = dict(s.execute(select(Participant.id, Participant.number)
                             .where(Participant.consultation_id == c.id)).all())
    paths: dict[str, Path] = {}
    polis = folder / "polis"
    moderated = {"approved": 1, "pending": 0, "rejected": -1}
    if c.scale == "vote":  # Polis files hold votes; ratings go to JSONL only
        votes = s.execute(select(Judgment.created_at, Statement.sid, Judgment.participant_id, Judgment.value,
                                 Judgment.statement_id)
                          .join(Statement, Statement.id == Judgment.statement_id)
                          .where(Judgment.consultation_id == c.id, Judgment.phase == "rating")
                          .order_by(Judgment.created_at, Judgment.id)).all()
        counts = {st.id: [0, 0, 0] for st in sts}  # agree, disagree, pass
        for *_, v, st_id in votes:
            counts[st_id][{1.0: 0, -1.0: 1, 0.0: 2}[v]] += 1
        paths["comments.csv"] = write_csv(
            ({"timestamp": int(st.created_at.timestamp() * 1000), "datetime": st.created_at.isoformat(),
              "comment-id": st.sid, "author-id": "" if st.author_id is None else numbers[st.author_id],
              "agrees": counts[st.id][0], "disagrees": counts[st.id][1], "moderated": moderated[st.status],
              "comment-body": st.text} for st in sts),
            polis / "comments.csv",
            ["timestamp", "datetime", "comment-id", "author-id", "agrees", "disagrees", "moderated", "comment-body"])
        paths["votes.csv"] = write_csv(
            ({"timestamp": int(t.timestamp() * 1000), "datetime": t.isoformat(), "comment-id": sid,
              "voter-id": numbers[pid], "vote": int(v)} for t, sid, pid, v, _ in votes),
            polis / "votes.csv", ["timestamp", "datetime", "comment-id", "voter-id", "vote"])
        values = profile.observed_values()
        cols = profile.statement_ids
        rows = []
        for i, p in enumerate(profile.participants):
            row = {"participant": p.id, "group-id": "", "n-comments": len(p.answers),
                   "n-votes": int(profile.observed[i].sum()), "n-agree": int((values[i] == 1).sum()),
                   "n-disagree": int((values[i] == -1).sum())}
            row.update({sid: int(values[i, j]) if profile.observed[i, j] else "" for j, sid in enumerate(cols)})
            rows.append(row)
        paths["participants-votes.csv"] = write_csv(
            rows, polis / "participants-votes.csv",
            ["participant", "group-id", "n-comments", "n-votes", "n-agree", "n-disagree", *cols])
        summary = polis / "summary.csv"
        with summary.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            for key, value in (("topic", c.question), ("url", ""), ("voters", profile.n),
                               ("voters-in-conv", profile.n), ("commenters", sum(bool(p.answers) for p in profile.participants)),
                               ("comments", len(sts)), ("groups", 0), ("conversation-description", c.description)):
                w.writerow([key, value])
        paths["summary.csv"] = summary
    jsonl = folder / "jsonl"
    utilities = profile.utilities
    records = []
    for i, p in enumerate(profile.participants):
        records.append({"id": p.id,
                        "answers": [{"question_id": sid, "text": text, "question": c.question}
                                    for sid, text in p.answers.items()],
                        "ratings": [{"statement_id": profile.statements[j].id, "rating": float(utilities[i, j])}
                                    for j in range(profile.m) if profile.observed[i, j]]})
    paths["participants.jsonl"] = write_jsonl(records, jsonl / "participants.jsonl")
    paths["slate.json"] = write_json({"statements": [{"id": st.id, "text": st.text} for st in profile.statements]},
                                     jsonl / "slate.json")
    from pnyx.serve.models import OUTPUT_COLUMNS

    for r in s.scalars(select(Run).where(Run.consultation_id == c.id).order_by(Run.id)):
        out = folder / "runs" / str(r.id)
        out.mkdir(parents=True, exist_ok=True)
        for name, column in OUTPUT_COLUMNS.items():
            value = getattr(r, column)
            (out / name).write_bytes(value if isinstance(value, bytes) else value.encode("utf-8"))
    return paths


def import_polis(s: Session, folder: str | Path, **settings: Any) -> Consultation:
    """A vote consultation continuing a Polis export: its comments (kept ones, approved; ids kept), its
    participants (numbers = Polis ids, which are whole numbers) and their latest votes."""
    from pnyx.io import load

    profile = load(folder, format="polis")
    for pid in profile.participant_ids:
        if not pid.isdigit() or int(pid) > MAX_ID:
            raise InputError(f"Polis participant ids are whole numbers up to {MAX_ID}, got {pid!r}", path=str(folder))
    for sid in profile.statement_ids:
        if not sid.isdigit() or len(sid) > 64:
            raise InputError(f"Polis comment ids are whole numbers of at most 64 digits, got {sid!r}",
                             path=str(folder))
    settings.setdefault("question", profile.info.get("topic") or Path(folder).name)
    c = create_consultation(s, **{**settings, "scale": "vote"})
    people = {}
    for p in profile.participants:
        people[p.id] = Participant(consultation_id=c.id, number=int(p.id), via="import", joined_at=now())
        s.add(people[p.id])
    s.flush()
    sts = {}
    for st in profile.statements:
        author = people.get(st.author) if st.author else None
        sts[st.id] = Statement(consultation_id=c.id, sid=st.id, text=st.text, source="import", status="approved",
                               author_id=None if author is None else author.id)
        s.add(sts[st.id])
    s.flush()
    values = profile.observed_values()
    stamp = now()
    rows = [{"consultation_id": c.id, "participant_id": people[profile.participants[i].id].id,
             "statement_id": sts[profile.statements[j].id].id, "value": float(values[i, j]), "phase": "rating",
             "created_at": stamp} for i, j in zip(*profile.observed.nonzero())]
    if rows:
        s.execute(insert(Judgment), rows)
    return c
