"""The database of live consultations (SQLAlchemy 2 models; the schema is Alembic's ``migrations/``).

Participants are pseudonymous: ``Participant.number`` is their id in every export and profile; the
invite token that lets a person in is stored only as a SHA-256 digest, as are the admin secret and
the session cookies. Judgments keep the latest value per (participant, statement, phase).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint,
                        Index)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Setting(Base):
    """Server-wide values: the CSRF key, the admin secret's digest."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Consultation(Base):
    __tablename__ = "consultations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    scale: Mapped[str] = mapped_column(String(16), default="rating")
    """``rating`` (0–4) or ``vote`` (agree / pass / disagree)."""
    k: Mapped[int] = mapped_column(Integer, default=3)
    word_budget: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_chars: Mapped[int] = mapped_column(Integer, default=500)
    moderation: Mapped[str] = mapped_column(String(16), default="strict")
    """``strict``: statements are shown after approval; ``permissive``: shown until rejected."""
    writing_closes: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    rating_closes: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    open_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    phase: Mapped[str] = mapped_column(String(16), default="collecting")
    """``collecting``, ``published`` or ``validation`` (participants rate the published slate)."""
    published_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("consultation_id", "number"), UniqueConstraint("consultation_id", "xid"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    """The pseudonymous id in exports and profiles."""
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    xid: Mapped[str | None] = mapped_column(String(200), nullable=True)
    via: Mapped[str] = mapped_column(String(16), default="invite")
    """``invite``, ``open`` (the open link) or ``import``."""
    joined_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Statement(Base):
    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("consultation_id", "sid"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    sid: Mapped[str] = mapped_column(String(64))
    """The statement's id in exports and profiles (Polis ``comment-id``)."""
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"), nullable=True,
                                                  index=True)
    source: Mapped[str] = mapped_column(String(64), default="seed")
    """``seed``, ``participant``, ``import``, a generator's name, or ``slate`` (added at publication)."""
    status: Mapped[str] = mapped_column(String(16), default="approved")
    """``pending``, ``approved`` or ``rejected``."""
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Flag(Base):
    __tablename__ = "flags"
    __table_args__ = (UniqueConstraint("statement_id", "participant_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Judgment(Base):
    __tablename__ = "judgments"
    __table_args__ = (UniqueConstraint("participant_id", "statement_id", "phase"),
                      Index("ix_judgments_consultation_phase", "consultation_id", "phase"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id", ondelete="CASCADE"), index=True)
    value: Mapped[float] = mapped_column(Float)
    """In the consultation's own scale (0–4, or −1/0/1)."""
    phase: Mapped[str] = mapped_column(String(16), default="rating")
    """``rating`` or ``validation``."""
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Session(Base):
    """A browser session: the SHA-256 of the cookie → an organiser or one participant."""

    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"),
                                                       nullable=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Job(Base):
    """A generation round or a process run, executed in-process by :class:`pnyx.serve.jobs.JobRunner`."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``generate`` or ``process``."""
    params: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    """``queued``, ``running``, ``done`` or ``failed``."""
    progress: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Run(Base):
    """The four outputs of one process run (as ``pnyx run`` writes them), stored in the database."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True)
    slate_json: Mapped[str] = mapped_column(Text)
    assignment_csv: Mapped[str] = mapped_column(Text)
    audit_json: Mapped[str] = mapped_column(Text)
    report_html: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


OUTPUT_COLUMNS = {"slate.json": "slate_json", "assignment.csv": "assignment_csv", "audit.json": "audit_json",
                  "report.html": "report_html"}
