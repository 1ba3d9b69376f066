"""Polis export folders: ``comments.csv``, ``votes.csv`` and/or ``participants-votes.csv``, ``summary.csv``.

Both column layouts are read by header name: the classic one (``datetime`` columns) and the 2024
one (``xid`` in participants-votes.csv; ``is-meta``, ``is-seed``, ``group-informed-consensus`` in
comments.csv, no ``datetime``).

* Statements are the comments with ``moderated`` ≥ 0 (accepted 1, not yet moderated 0), ``author``
  = ``author-id``. Moderated-out comments (−1) are left out unless ``keep_moderated_out`` is set,
  and counted, as are the votes on them; so are comments with a blank body.
* Votes are kept in the export's coding, scale ``"vote"``: 1 agree, 0 pass, −1 disagree.
  ``votes.csv`` is the full history and, when present, authoritative: each voter's latest vote on a
  comment (by timestamp; on equal timestamps the later row) wins, the others are counted as
  ``superseded votes``. Without it, the non-blank cells of ``participants-votes.csv`` are the votes.
* Participants are everyone who voted or has a row in participants-votes.csv (and the authors of
  kept comments). ``answers`` holds the kept comments they wrote, keyed by comment id;
  ``metadata["group"]`` is Polis's opinion group (``group-id``) when they have one.
"""

from __future__ import annotations

import csv
import io
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from pnyx.data import InputError, Participant, Profile, Statement
from pnyx.io._common import csv_rows, natural_key, parse_judgment, parse_number, present, read_text, require

COMMENTS, VOTES, MATRIX, SUMMARY = "comments.csv", "votes.csv", "participants-votes.csv", "summary.csv"
MATRIX_COLUMNS = {"participant", "xid", "group-id", "n-comments", "n-votes", "n-agree", "n-disagree"}
_TRUE = {"true", "t", "1", "yes"}


def _summary(path: Path) -> dict[str, str]:
    facts: dict[str, str] = {}
    reader = csv.reader(io.StringIO(read_text(path), newline=""), strict=True)
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != 2:
                raise InputError(f"expected 'key,value', got {len(row)} fields", path=str(path), line=reader.line_num)
            facts[row[0].strip()] = row[1]
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc}; truncated line?)", path=str(path), line=reader.line_num) from None
    return facts


def read_polis(path: str | Path, *, keep_moderated_out: bool = False) -> Profile:
    """Read a Polis export folder (see the module docstring)."""
    folder = Path(path)
    if not present(folder / COMMENTS):
        raise InputError(f"not a Polis export folder: no {COMMENTS}", path=str(folder))
    votes_path, matrix_path = folder / VOTES, folder / MATRIX
    if not present(votes_path) and not present(matrix_path):
        raise InputError(f"Polis export folder has neither {VOTES} nor {MATRIX}", path=str(folder))

    # comments
    cpath = folder / COMMENTS
    columns, rows = csv_rows(cpath, ["comment-id", "author-id", "moderated", "comment-body"])
    comments: dict[str, tuple[str, str, int]] = {}  # id → (text, author, moderated)
    comment_line: dict[str, int] = {}
    meta, seed = [], []
    for line, row in rows:
        cid = require(row["comment-id"], path=cpath, line=line, field="comment-id")
        if cid in comments:
            raise InputError(f"duplicate comment id {cid!r} (first on line {comment_line[cid]})", path=str(cpath), line=line, field="comment-id")
        moderated = row["moderated"].strip()
        if moderated not in {"-1", "0", "1"}:
            raise InputError(f"moderated must be -1, 0 or 1, got {moderated!r}", path=str(cpath), line=line, field="moderated")
        comments[cid] = (row["comment-body"], row["author-id"].strip(), int(moderated))
        comment_line[cid] = line
        if row.get("is-meta", "").strip().lower() in _TRUE:
            meta.append(cid)
        if row.get("is-seed", "").strip().lower() in _TRUE:
            seed.append(cid)
    if not comments:
        raise InputError("no comments", path=str(cpath))
    blank = {cid for cid, (text, _, _) in comments.items() if not text.strip()}
    kept = {cid for cid, (_, _, mod) in comments.items() if (mod >= 0 or keep_moderated_out) and cid not in blank}

    def known_comment(cid: str, *, path: Path, line: int, field: str) -> str:
        if cid not in comments:
            raise InputError(f"unknown comment id {cid!r} (not in {COMMENTS})", path=str(path), line=line, field=field)
        return cid

    # participants-votes.csv: groups, and the votes when there is no votes.csv
    groups: dict[str, dict[str, str]] = {}
    matrix_votes: dict[tuple[str, str], float] = {}
    if matrix_path.is_file():
        mcolumns, mrows = csv_rows(matrix_path, ["participant"])
        vote_columns = [known_comment(c, path=matrix_path, line=1, field=c) for c in mcolumns if c not in MATRIX_COLUMNS]
        row_of: dict[str, int] = {}
        for line, row in mrows:
            pid = require(row["participant"], path=matrix_path, line=line, field="participant")
            if pid in row_of:
                raise InputError(f"duplicate participant {pid!r} (first on line {row_of[pid]})", path=str(matrix_path), line=line, field="participant")
            row_of[pid] = line
            groups[pid] = {key: row[col].strip() for key, col in (("group", "group-id"), ("xid", "xid")) if row.get(col, "").strip()}
            for cid in vote_columns:
                if row[cid].strip():
                    matrix_votes[pid, cid] = parse_judgment(row[cid], "vote", path=matrix_path, line=line, field=cid)

    # votes.csv: the full history, latest vote wins
    if votes_path.is_file():
        voters, voted, final_votes, raw_votes, superseded = _latest_votes(votes_path, known_comment)
    else:
        voters, voted = list(dict.fromkeys(pid for pid, _ in matrix_votes)), list(dict.fromkeys(c for _, c in matrix_votes))
        vcode, ccode = {v: i for i, v in enumerate(voters)}, {c: j for j, c in enumerate(voted)}
        final_votes = (np.array([vcode[v] for v, _ in matrix_votes], dtype=np.int64),
                       np.array([ccode[c] for _, c in matrix_votes], dtype=np.int64),
                       np.array(list(matrix_votes.values()), dtype=float))
        raw_votes, superseded = len(matrix_votes), 0

    # participants and statements
    authored: dict[str, dict[str, str]] = {}
    for cid in kept:
        text, author, _ = comments[cid]
        if author:
            authored.setdefault(author, {})[cid] = text
    ids = sorted(set(voters) | groups.keys() | authored.keys(), key=natural_key)
    participants = [
        Participant(pid, {c: authored[pid][c] for c in sorted(authored.get(pid, {}), key=natural_key)}, groups.get(pid, {}))
        for pid in ids
    ]
    statements = [Statement(cid, comments[cid][0], comments[cid][1] or None) for cid in sorted(kept, key=natural_key)]
    pindex = {pid: i for i, pid in enumerate(ids)}
    sindex = {s.id: j for j, s in enumerate(statements)}
    voter_row = np.array([pindex[v] for v in voters], dtype=np.int64)
    comment_col = np.array([sindex.get(c, -1) for c in voted], dtype=np.int64)
    who, which, value = final_votes
    rows, cols = voter_row[who], comment_col[which]
    on_kept = cols >= 0

    excluded = {
        "moderated-out comments": len(comments) - len(kept) - len(blank),
        "blank comments": len(blank),
        "votes on excluded comments": int((~on_kept).sum()),
        "superseded votes": superseded,
    }
    info: dict[str, Any] = {
        "format": "polis",
        "layout": "2024" if "datetime" not in columns or "is-meta" in columns else "classic",
        "votes_from": VOTES if votes_path.is_file() else MATRIX,
        "raw_votes": raw_votes,
        "final_votes": int(value.size),
        "comments": len(comments),
        "moderation": {str(m): sum(c[2] == m for c in comments.values()) for m in (1, 0, -1)},
        "meta_comments": meta,
        "meta_marked": "is-meta" in columns,
        "seed_comments": seed,
    }
    if present(folder / SUMMARY):
        info["summary"] = _summary(folder / SUMMARY)
        info["topic"] = info["summary"].get("topic")
    return Profile.from_arrays(
        participants, statements, rows[on_kept], cols[on_kept], value[on_kept], "vote",
        excluded={k: v for k, v in excluded.items() if v}, source=str(folder), info=info,
    )


def _latest_votes(path: Path, known_comment) -> tuple[list[str], list[str], tuple[np.ndarray, np.ndarray, np.ndarray], int, int]:
    """Stream ``votes.csv`` into arrays (no Python object per vote) and keep each voter's latest vote
    per comment (by timestamp; on equal timestamps the later row).

    Returns the voter ids, the comment ids, (voter code, comment code, vote) of the kept votes, the
    number of rows and the number of superseded votes.
    """
    voters: dict[str, int] = {}
    voted: dict[str, int] = {}
    who, which = array("q"), array("q")
    stamps, votes = array("d"), array("d")
    for line, row in csv_rows(path, ["timestamp", "comment-id", "voter-id", "vote"])[1]:
        cid = known_comment(row["comment-id"].strip(), path=path, line=line, field="comment-id")
        pid = require(row["voter-id"], path=path, line=line, field="voter-id")
        stamps.append(parse_number(row["timestamp"], path=path, line=line, field="timestamp"))
        votes.append(parse_judgment(row["vote"], "vote", path=path, line=line, field="vote"))
        who.append(voters.setdefault(pid, len(voters)))
        which.append(voted.setdefault(cid, len(voted)))
    raw = len(votes)
    if not raw:
        raise InputError("no votes", path=str(path))
    p, c = np.frombuffer(who, dtype=np.int64), np.frombuffer(which, dtype=np.int64)
    order = np.lexsort((np.arange(raw), np.frombuffer(stamps), c, p))
    pair = p[order] * len(voted) + c[order]
    last = order[np.r_[pair[1:] != pair[:-1], True]]
    return list(voters), list(voted), (p[last], c[last], np.frombuffer(votes)[last]), raw, raw - last.size
