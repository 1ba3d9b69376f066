"""Global Dialogues exports (the Collective Intelligence Project; collected on Remesh).

A round's folder holds ``GD<N>_verbatim_map.csv`` (the *Ask Opinion* questions' thoughts),
``GD<N>_binary.csv`` (agree/disagree votes on thoughts), ``GD<N>_preference.csv`` (pairwise
comparisons of thoughts) and, optionally, ``GD<N>_participants.csv`` (every participant's answers,
among them the onboarding polls that define the demographic segments), ``GD<N>_participant_report.csv``
(each participant's language), ``GD<N>_question_id_mapping.csv`` (short question numbers) and
``GD<N>_discussion_guide.csv`` (which polls are onboarding segments). The columns are those of the
dataset's ``DATA_GUIDE.md``; files are found by their suffix, so any ``GD<N>_`` prefix (or none) works.

One profile per question (``question=``: its id, a unique prefix of it, or its number in
``question_id_mapping.csv``); :func:`questions` lists them (``pnyx validate`` prints the list).

* Statements are the question's thoughts (``Thought ID``, ``Thought Text``, author ``Participant ID``);
  blank thoughts are left out and counted, as are the votes and comparisons on them.
* Votes are kept in the vote coding (scale ``"vote"``): Agree 1, Disagree −1, Neutral 0 — on the
  0–4 utility scale agree → 4, disagree → 0, as for Polis. A participant's later row on the same
  thought wins; the earlier ones are counted as ``superseded votes``.
* Comparisons ``Thought A`` / ``Thought B`` become ``Profile.pairwise`` rows (preferred, other); the
  answers that state no preference ("I agree with both", "I disagree with both", "These are
  similar", "I'm not sure") are counted, by answer.
* Participants are everyone who wrote, voted on or compared a thought of the question (those whose
  every row was left out are counted as ``participants with nothing kept``). ``answers``
  holds their own thought (keyed by the question id); ``metadata`` their segments: ``language``
  (participant report), and the onboarding polls of ``participants.csv`` (``age``, ``gender``,
  ``environment``, ``religion``, ``country``, or the poll's text for others).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pnyx.data import InputError, Judgment, Participant, Profile, Statement
from pnyx.io._common import csv_rows, natural_key, read_text, require

VERBATIM, BINARY, PREFERENCE = "verbatim_map.csv", "binary.csv", "preference.csv"
PARTICIPANTS, REPORT, MAPPING, GUIDE = "participants.csv", "participant_report.csv", "question_id_mapping.csv", \
    "discussion_guide.csv"
VOTES = {"agree": 1.0, "disagree": -1.0, "neutral": 0.0}
PREFERRED = {"thought a": (0, 1), "thought b": (1, 0)}
NO_PREFERENCE = ("i agree with both", "i disagree with both", "these are similar", "i'm not sure")
SEGMENTS = (("language", "language"), ("how old", "age"), ("gender", "gender"), ("where you live", "environment"),
            ("relig", "religion"), ("country", "country"))


def find(folder: Path, suffix: str) -> Path | None:
    """The file of the export ending in ``suffix`` (``GD6UK_binary.csv`` for ``binary.csv``), or None."""
    hits = sorted(p for p in folder.glob(f"*{suffix}") if p.name == suffix or p.name.endswith("_" + suffix))
    if len(hits) > 1:
        raise InputError(f"more than one *_{suffix} ({', '.join(p.name for p in hits[:3])}): one round per folder",
                         path=str(folder))
    return hits[0] if hits else None


def is_global_dialogues(folder: Path) -> bool:
    """Whether ``folder`` looks like a Global Dialogues export (a verbatim map and votes or comparisons)."""
    try:
        return find(folder, VERBATIM) is not None and (find(folder, BINARY) or find(folder, PREFERENCE)) is not None
    except InputError:
        return True  # let the reader say what is wrong


@dataclass
class Question:
    """An *Ask Opinion* question of the export."""

    id: str
    text: str
    number: str | None
    thoughts: int
    votes: int
    comparisons: int


def _rows(path: Path, required: list[str]):
    return csv_rows(path, required)[1]


def _mapping(folder: Path) -> dict[str, str]:
    """Question id → its short number (``question_id_mapping.csv``), when the export has one."""
    path = find(folder, MAPPING)
    if path is None:
        return {}
    return {row["uuid"].strip(): row["human_readable_id"].strip() for _, row in _rows(path, ["human_readable_id", "uuid"])}


def questions(path: str | Path) -> list[Question]:
    """The export's *Ask Opinion* questions, in the order of the verbatim map, with their counts."""
    folder = _folder(path)
    texts: dict[str, str] = {}
    counts: dict[str, list[int]] = {}
    for line, row in _rows(find(folder, VERBATIM), ["Question ID", "Question Text", "Thought ID"]):
        qid = require(row["Question ID"], path=find(folder, VERBATIM), line=line, field="Question ID")
        texts.setdefault(qid, row["Question Text"].strip())
        counts.setdefault(qid, [0, 0, 0])[0] += 1
    for k, name in ((1, BINARY), (2, PREFERENCE)):
        if (p := find(folder, name)) is not None:
            for _, row in _rows(p, ["Question ID"]):
                if row["Question ID"].strip() in counts:
                    counts[row["Question ID"].strip()][k] += 1
    numbers = _mapping(folder)
    return [Question(q, texts[q], numbers.get(q), *counts[q]) for q in texts]


def _folder(path: str | Path) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise InputError("a Global Dialogues export is a folder (pass the folder, not one of its files)", path=str(folder))
    if find(folder, VERBATIM) is None:
        raise InputError(f"not a Global Dialogues export: no *_{VERBATIM}", path=str(folder))
    if find(folder, BINARY) is None and find(folder, PREFERENCE) is None:
        raise InputError(f"Global Dialogues export has neither *_{BINARY} nor *_{PREFERENCE}", path=str(folder))
    return folder


def _pick(folder: Path, question: str | None, listed: list[Question]) -> Question:
    names = "; ".join(f"{q.number or q.id[:8]}: {q.text[:60]}" for q in listed[:5])
    if question is None:
        if len(listed) == 1:
            return listed[0]
        raise InputError(f"{len(listed)} questions in this export; choose one with --question ({names}); "
                         "`pnyx validate` lists them", path=str(folder), field="question")
    question = question.strip()
    hits = [q for q in listed if q.id == question or q.number == question]
    if not hits and len(question) >= 4:
        hits = [q for q in listed if q.id.startswith(question)]
    if len(hits) != 1:
        why = "matches several questions" if hits else "is not a question of this export"
        raise InputError(f"{question!r} {why} ({names})", path=str(folder), field="question")
    return hits[0]


def read_global_dialogues(path: str | Path, *, question: str | None = None) -> Profile:
    """Read one question of a Global Dialogues export folder (see the module docstring)."""
    folder = _folder(path)
    listed = questions(folder)
    chosen = _pick(folder, question, listed)
    qid = chosen.id
    excluded: dict[str, int] = {}

    def count(reason: str) -> None:
        excluded[reason] = excluded.get(reason, 0) + 1

    # thoughts
    vpath = find(folder, VERBATIM)
    thoughts: dict[str, Statement] = {}
    blank: set[str] = set()
    first: dict[str, int] = {}
    answers: dict[str, dict[str, str]] = {}
    seen: set[str] = set()  # everyone in the question's rows, to count those left with nothing
    for line, row in _rows(vpath, ["Question ID", "Participant ID", "Thought ID", "Thought Text"]):
        if row["Question ID"].strip() != qid:
            continue
        tid = require(row["Thought ID"], path=vpath, line=line, field="Thought ID")
        if tid in first:
            raise InputError(f"duplicate thought id {tid!r} (first on line {first[tid]})", path=str(vpath), line=line,
                             field="Thought ID")
        first[tid] = line
        author = require(row["Participant ID"], path=vpath, line=line, field="Participant ID")
        seen.add(author)
        text = row["Thought Text"].strip()
        if not text:
            blank.add(tid)
            count("blank thoughts")
            continue
        thoughts[tid] = Statement(tid, text, author)
        answers.setdefault(author, {})[qid] = text

    def thought(tid: str, p: Path, line: int, field: str) -> str | None:
        tid = require(tid, path=p, line=line, field=field)
        if tid in blank:
            return None
        if tid not in thoughts:
            raise InputError(f"unknown thought id {tid!r} (not in {vpath.name} for this question)", path=str(p),
                             line=line, field=field)
        return tid

    # votes: a later row on the same thought wins
    votes: dict[tuple[str, str], float] = {}
    if (bpath := find(folder, BINARY)) is not None:
        for line, row in _rows(bpath, ["Question ID", "Participant ID", "Thought ID", "Vote"]):
            if row["Question ID"].strip() != qid:
                continue
            pid = require(row["Participant ID"], path=bpath, line=line, field="Participant ID")
            seen.add(pid)
            tid = thought(row["Thought ID"], bpath, line, "Thought ID")
            vote = VOTES.get(row["Vote"].strip().lower())
            if vote is None:
                raise InputError(f"vote {row['Vote']!r}: expected Agree, Disagree or Neutral", path=str(bpath), line=line,
                                 field="Vote")
            if tid is None:
                count("votes on blank thoughts")
                continue
            if (pid, tid) in votes:
                count("superseded votes")
            votes[pid, tid] = vote

    # pairwise comparisons
    pairs: list[tuple[str, str, str]] = []
    if (ppath := find(folder, PREFERENCE)) is not None:
        for line, row in _rows(ppath, ["Question ID", "Participant ID", "Thought A ID", "Thought B ID", "Vote"]):
            if row["Question ID"].strip() != qid:
                continue
            pid = require(row["Participant ID"], path=ppath, line=line, field="Participant ID")
            seen.add(pid)
            ab = [thought(row[c], ppath, line, c) for c in ("Thought A ID", "Thought B ID")]
            answer = row["Vote"].strip().lower().replace("\u2019", "'")
            if answer in PREFERRED:
                if None in ab:
                    count("comparisons with a blank thought")
                    continue
                if ab[0] == ab[1]:
                    raise InputError(f"thought {ab[0]!r} compared with itself", path=str(ppath), line=line, field="Thought B ID")
                win, lose = PREFERRED[answer]
                pairs.append((pid, ab[win], ab[lose]))
            elif answer in NO_PREFERENCE:
                count(f"comparisons without a preference ({row['Vote'].strip()})")
            else:
                raise InputError(f"vote {row['Vote']!r}: expected Thought A, Thought B or one of {', '.join(NO_PREFERENCE)}",
                                 path=str(ppath), line=line, field="Vote")

    ids = sorted({*answers, *(p for p, _ in votes), *(p for p, _, _ in pairs)}, key=natural_key)
    if not ids:
        raise InputError(f"question {qid!r} has no thoughts, votes or comparisons", path=str(folder), field="question")
    if len(seen) > len(ids):
        excluded["participants with nothing kept"] = len(seen) - len(ids)
    segments = _segments(folder, set(ids))
    participants = [Participant(pid, answers.get(pid, {}), segments.get(pid, {})) for pid in ids]
    statements = sorted(thoughts.values(), key=lambda s: first[s.id])
    pidx = {pid: i for i, pid in enumerate(ids)}
    sidx = {s.id: j for j, s in enumerate(statements)}
    info: dict[str, Any] = {
        "format": "global-dialogues", "question": qid, "question_text": chosen.text, "topic": chosen.text,
        "question_number": chosen.number,
        "questions": len(listed), "raw_votes": chosen.votes, "raw_comparisons": chosen.comparisons,
        "segments": sorted({k for s in segments.values() for k in s}),
    }
    return Profile.from_judgments(
        participants, statements, [Judgment(p, t, v) for (p, t), v in votes.items()], "vote",
        excluded=excluded, source=str(folder), info=info,
        pairwise=np.array([(pidx[p], sidx[a], sidx[b]) for p, a, b in pairs], dtype=np.int64).reshape(-1, 3),
    )


def _segment_key(poll: str) -> str:
    low = poll.lower()
    return next((key for cue, key in SEGMENTS if cue in low), re.sub(r"\s+", " ", poll).strip())


def _segments(folder: Path, ids: set[str]) -> dict[str, dict[str, str]]:
    """Participant id → their segments (language; the onboarding polls when participants.csv is there)."""
    out: dict[str, dict[str, str]] = {}
    if (path := find(folder, PARTICIPANTS)) is not None:
        columns, rows = csv_rows(path, ["Participant Id"])
        polls = _onboarding(folder)
        keep = [c for c in columns if c in polls] if polls is not None else \
            [c for c in columns[2:] if any(cue in c.lower() for cue, _ in SEGMENTS)]
        for line, row in rows:
            pid = row["Participant Id"].strip()
            if pid in ids:
                out[pid] = {_segment_key(c): row[c].strip() for c in keep if row[c].strip()}
    if (path := find(folder, REPORT)) is not None:
        for pid, language in _report_languages(path):
            if pid in ids and language:
                out.setdefault(pid, {}).setdefault("language", language)
    return out


def _onboarding(folder: Path) -> set[str] | None:
    """The texts of the onboarding polls (the segment questions), from the discussion guide."""
    path = find(folder, GUIDE)
    if path is None:
        return None
    rows = _loose_rows(path)
    header = next(rows, [])
    if "Item type (dropdown)" not in header or "Content" not in header:
        raise InputError("missing column", path=str(path), line=1, field="Item type (dropdown)")
    kind, content = header.index("Item type (dropdown)"), header.index("Content")
    return {row[content].strip() for row in rows
            if len(row) > max(kind, content) and row[kind].strip().lower() == "onboarding single select"}


def _loose_rows(path: Path):
    """Rows of a spreadsheet-style CSV (rows may be shorter or longer than the header)."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        yield from reader
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", path=str(path), line=reader.line_num) from None


def _report_languages(path: Path) -> list[tuple[str, str]]:
    """(participant id, language) from the participant report: key-value lines, then a table whose
    header starts with ``Participant ID``."""
    header: list[str] | None = None
    out = []
    for row in _loose_rows(path):
        if header is None:
            if row and row[0].strip() == "Participant ID" and "Language" in row:
                header = row
        elif len(row) == len(header):
            rec = dict(zip(header, row))
            out.append((rec["Participant ID"].strip(), rec["Language"].strip()))
    return out
