"""Every kind of bad input fails with an InputError naming the file, the line (or row) and the field."""

from __future__ import annotations

import pytest

from pnyx.data import InputError
from pnyx.io import load

COMMENTS = ("timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n"
            "1,d,0,7,1,0,1,Keep it\n2,d,1,7,0,0,-1,Moderated out\n")
VOTES = "timestamp,datetime,comment-id,voter-id,vote\n1,d,0,7,1\n"
MATRIX = "participant,group-id,n-comments,n-votes,n-agree,n-disagree,0,1\n7,0,2,1,1,0,1,\n"
RATING = '{"statement_id": "P1", "statement": "Be kind.", "rating": %s}'
OK = '{"id": "a", "ratings": [%s]}\n' % (RATING % 3)
PREFLIB = "# NUMBER ALTERNATIVES: 3\n# NUMBER VOTERS: 3\n"

# (case, {file: content}, file to load ("" = the folder), (file at fault, line, field, part of the message))
CASES = [
    ("jsonl duplicate id", {"p.jsonl": OK + OK}, "p.jsonl", ("p.jsonl", 2, "id", "duplicate participant id 'a' (first on line 1)")),
    ("jsonl rating out of range", {"p.jsonl": '{"id": "a", "ratings": [%s]}\n' % (RATING % 5)}, "p.jsonl",
     ("p.jsonl", 1, "ratings[0].rating", "out of range")),
    ("jsonl rating not a number", {"p.jsonl": OK + '{"id": "b", "ratings": [%s]}\n' % (RATING % '"3"')}, "p.jsonl",
     ("p.jsonl", 2, "ratings[0].rating", "valid number")),
    ("jsonl label mismatch", {"p.jsonl": '{"id": "a", "ratings": [{"statement_id": "P1", "statement": "x", "rating": 1, "label": "perfectly"}]}'},
     "p.jsonl", ("p.jsonl", 1, "ratings[0].label", "does not match rating 1")),
    ("jsonl truncated line", {"p.jsonl": OK + '{"id": "b", "ratings": [{"statement_id": "P1", "rat'}, "p.jsonl",
     ("p.jsonl", 2, None, "truncated line")),
    ("jsonl non-UTF-8", {"p.jsonl": OK.encode() + b'{"id": "caf\xe9"}\n'}, "p.jsonl", ("p.jsonl", 2, None, "not valid UTF-8")),
    ("jsonl empty file", {"p.jsonl": ""}, "p.jsonl", ("p.jsonl", None, None, "empty file")),
    ("jsonl missing id", {"p.jsonl": OK + '{"ratings": []}\n'}, "p.jsonl", ("p.jsonl", 2, "id", "Field required")),
    ("jsonl rated twice", {"p.jsonl": '{"id": "a", "ratings": [%s, %s]}' % (RATING % 1, RATING % 2)}, "p.jsonl",
     ("p.jsonl", 1, "ratings[1].statement_id", "rated twice")),
    ("jsonl statement without text", {"p.jsonl": '{"id": "a", "ratings": [{"statement_id": "P9", "rating": 1}]}'}, "p.jsonl",
     ("p.jsonl", 1, "ratings[0].statement_id", "no text for statement 'P9'")),
    ("jsonl statement text differs", {"p.jsonl": OK + OK.replace('"a"', '"b"').replace("kind", "nice")}, "p.jsonl",
     ("p.jsonl", 2, "ratings[0].statement", "differs from the one in line 1")),
    ("polis missing column", {"comments.csv": COMMENTS.replace("moderated,", "mod,"), "votes.csv": VOTES}, "",
     ("comments.csv", 1, "moderated", "missing column")),
    ("polis vote out of range", {"comments.csv": COMMENTS, "votes.csv": VOTES + "2,d,0,8,2\n"}, "", ("votes.csv", 3, "vote", "out of range")),
    ("polis unknown comment", {"comments.csv": COMMENTS, "votes.csv": VOTES + "2,d,5,8,1\n"}, "",
     ("votes.csv", 3, "comment-id", "unknown comment id '5'")),
    ("polis duplicate comment", {"comments.csv": COMMENTS + "3,d,0,8,0,0,1,Again\n", "votes.csv": VOTES}, "",
     ("comments.csv", 4, "comment-id", "duplicate comment id '0' (first on line 2)")),
    ("polis moderated out of range", {"comments.csv": COMMENTS.replace(",-1,", ",2,"), "votes.csv": VOTES}, "",
     ("comments.csv", 3, "moderated", "-1, 0 or 1")),
    ("polis truncated votes line", {"comments.csv": COMMENTS, "votes.csv": VOTES + "2,d,0"}, "", ("votes.csv", 3, None, "truncated line")),
    ("polis unknown matrix column", {"comments.csv": COMMENTS, "participants-votes.csv": MATRIX.replace(",0,1\n", ",0,9\n")}, "",
     ("participants-votes.csv", 1, "9", "unknown comment id '9'")),
    ("polis matrix vote out of range", {"comments.csv": COMMENTS, "participants-votes.csv": MATRIX + "8,,0,1,0,0,-2,\n"}, "",
     ("participants-votes.csv", 3, "0", "out of range")),
    ("polis duplicate participant", {"comments.csv": COMMENTS, "participants-votes.csv": MATRIX + MATRIX.splitlines()[1]}, "",
     ("participants-votes.csv", 3, "participant", "duplicate participant '7'")),
    ("polis non-UTF-8", {"comments.csv": COMMENTS.encode() + b"3,d,2,8,0,0,1,Caf\xe9\n", "votes.csv": VOTES}, "",
     ("comments.csv", 4, None, "not valid UTF-8")),
    ("polis empty votes", {"comments.csv": COMMENTS, "votes.csv": ""}, "", ("votes.csv", None, None, "empty file")),
    ("polis no vote file", {"comments.csv": COMMENTS}, "", ("", None, None, "neither votes.csv nor participants-votes.csv")),
    ("csv rating out of range", {"r.csv": "participant_id,statement_id,rating\na,s,3\nb,s,4.5\n"}, "r.csv", ("r.csv", 3, "rating", "out of range")),
    ("csv rating not a number", {"r.csv": "participant_id,statement_id,rating\na,s,high\n"}, "r.csv", ("r.csv", 2, "rating", "expected a number")),
    ("csv vote out of range", {"r.csv": "participant_id,statement_id,vote\na,s,0.5\n"}, "r.csv", ("r.csv", 2, "vote", "out of range")),
    ("csv duplicate judgment", {"r.csv": "participant_id,statement_id,rating\na,s,3\na,s,2\n"}, "r.csv",
     ("r.csv", 3, "statement_id", "twice (first on line 2)")),
    ("csv missing value column", {"r.csv": "participant_id,statement_id,score\na,s,3\n"}, "r.csv", ("r.csv", 1, "rating", "exactly one")),
    ("csv missing columns", {"r.csv": "person,opinion\na,b\n"}, "r.csv", ("r.csv", 1, "participant_id", "missing column")),
    ("csv empty id", {"o.csv": "participant_id,text\n,hello\n"}, "o.csv", ("o.csv", 2, "participant_id", "empty value")),
    ("csv header only", {"o.csv": "participant_id,text\n"}, "o.csv", ("o.csv", None, None, "no rows")),
    ("csv unterminated quote", {"o.csv": 'participant_id,text\na,"never closed\n'}, "o.csv", ("o.csv", 2, None, "truncated line")),
    ("csv unknown statement", {"judgments.csv": "participant_id,statement_id,rating\na,s1,3\na,s2,1\n", "statements.csv": "statement_id,text\ns1,One\n"},
     "", ("judgments.csv", 3, "statement_id", "unknown statement id 's2'")),
    ("csv unknown participant", {"judgments.csv": "participant_id,statement_id,rating\na,s1,3\nb,s1,1\n", "opinions.csv": "participant_id,text\na,Hi\n"},
     "", ("judgments.csv", 3, "participant_id", "unknown participant id 'b'")),
    ("csv duplicate statement", {"judgments.csv": "participant_id,statement_id,rating\na,s1,3\n", "statements.csv": "statement_id,text\ns1,One\ns1,Two\n"},
     "", ("statements.csv", 3, "statement_id", "duplicate statement id 's1'")),
    ("yaml candidate out of range", {"x.abc.yaml": "num_cand: 3\nprofile:\n- [0, 1]\n- [2, 3]\n"}, "x.abc.yaml",
     ("x.abc.yaml", 4, "profile", "candidate out of range")),
    ("yaml unknown key", {"x.abc.yaml": "profile: [[0]]\ncommittee: 2\n"}, "x.abc.yaml", ("x.abc.yaml", 2, "committee", "unknown key")),
    ("yaml truncated", {"x.abc.yaml": "profile: [[0, 1], [1\n"}, "x.abc.yaml", ("x.abc.yaml", 2, None, "not valid YAML")),
    ("yaml fractional weight", {"x.abc.yaml": "profile: [[0], [1]]\nvoter_weights: [1, 0.5]\n"}, "x.abc.yaml",
     ("x.abc.yaml", 2, "voter_weights", "positive integers")),
    ("yaml missing profile", {"x.abc.yaml": "num_cand: 3\n"}, "x.abc.yaml", ("x.abc.yaml", 1, "profile", "missing key")),
    ("preflib alternative out of range", {"x.cat": PREFLIB + "2: {1, 2}, 3\n1: {4}, {1, 2}\n"}, "x.cat", ("x.cat", 4, None, "unknown alternative 4")),
    ("preflib truncated file", {"x.cat": PREFLIB + "2: {1, 2}, 3\n"}, "x.cat", ("x.cat", 3, None, "NUMBER VOTERS 3 but the file lists 2")),
    ("preflib truncated line", {"x.toc": PREFLIB + "2: {1, 2}, 3\n1: {3, 1\n"}, "x.toc", ("x.toc", 4, None, "malformed preference")),
    ("preflib bad count", {"x.soi": PREFLIB + "two: 1, 2\n"}, "x.soi", ("x.soi", 3, None, "positive count")),
    ("preflib missing header", {"x.soi": "1: 1, 2\n"}, "x.soi", ("x.soi", 1, None, "NUMBER ALTERNATIVES")),
    ("unknown format", {"x.txt": "hello"}, "x.txt", ("x.txt", None, None, "jsonl, polis, csv, abcvoting, preflib")),
    ("no such file", {}, "missing.jsonl", ("missing.jsonl", None, None, "no such file")),
    ("unknown folder", {"notes.txt": "hello"}, "", ("", None, None, "folder holds none of comments.csv")),
]


@pytest.mark.parametrize("files, target, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_located(tmp_path, files, target, expected):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    where, line, field, message = expected
    with pytest.raises(InputError) as caught:
        load(tmp_path / target)
    exc = caught.value
    assert exc.path == str(tmp_path / where).rstrip("/")
    assert (exc.line, exc.field) == (line, field)
    assert message in str(exc)
    assert str(exc).startswith(str(tmp_path / where).rstrip("/") + (f", line {line}" if line else ""))


def test_unknown_format_name(tmp_path):
    with pytest.raises(InputError, match="unknown format 'xls': pnyx reads jsonl, polis, csv, abcvoting, preflib"):
        load(tmp_path, format="xls")
