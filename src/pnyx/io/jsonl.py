"""pnyx JSONL: one participant per line, with free-text answers and 0–4 ratings.

The schema is the one of the Generative Social Choice chatbot-personalization files
(``participants.jsonl``, ``validation.jsonl``). Each non-blank line is a JSON object::

    {"id": "generation1",                          # required, unique
     "answers": [                                  # optional: free-text opinions
        {"question_id": "opinion_rules",           #   required, unique per participant
         "text": "…" | null,                       #   null or blank: left out, counted as "empty answers"
         "question": "…",                          #   optional: the question as shown
         "used_in_paper_disc_prompt": true}],      #   optional: listed in info["prompt_questions"]
     "ratings": [                                  # optional: judgments on the 0–4 scale
        {"statement_id": "P1",                     #   required, unique per participant
         "rating": 3,                              #   required: a number from 0 to 4
         "statement": "…",                         #   the statement's text (or give it in slate.json)
         "label": "mostly",                        #   optional: must match the rating (pnyx.data.RATING_LABELS)
         "explanation": "…"}],                     #   optional: kept in Profile.explanations
     "answer_date": "2023-11-01", …}               # any other key goes to Participant.metadata
                                                   # ("group" is the participant's group label)

Statement texts also come from a ``slate.json`` next to the file, when there is one: every list of
``{"id", "text"}`` objects under its top-level keys. Statements are those that some participant
rated, in ``slate.json`` order when it lists them, else in order of first appearance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from pnyx.data import InputError, Judgment, Participant, Profile, Statement
from pnyx.io._common import check_label, natural_key, parse_json, read_text

PARTICIPANTS_FILE = "participants.jsonl"
STATEMENTS_FILE = "slate.json"


def _in_range(rating: float) -> float:
    if not 0.0 <= rating <= 4.0:
        raise ValueError("out of range: ratings are numbers from 0 to 4")
    return rating


Rating = Annotated[float, Field(strict=True, allow_inf_nan=False), AfterValidator(_in_range)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)


class AnswerRecord(_Record):
    question_id: str = Field(min_length=1)
    text: str | None = None
    question: str | None = None
    used_in_paper_disc_prompt: bool = False


class RatingRecord(_Record):
    statement_id: str = Field(min_length=1)
    rating: Rating
    statement: str | None = None
    label: str | None = None
    explanation: str | None = None


class ParticipantRecord(_Record):
    id: str = Field(min_length=1)
    answers: list[AnswerRecord] = []
    ratings: list[RatingRecord] = []


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _validated(model: type[BaseModel], data: Any, *, path: Path, line: int | None) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        got = f" (got {first['input']!r})" if first["type"] != "missing" else ""
        raise InputError(f"{first['msg']}{got}", path=str(path), line=line, field=_field(first["loc"]) or None) from None


def _statement_texts(path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """Statement id → text from ``slate.json``, and its other top-level facts."""
    data = parse_json(read_text(path), path=path)
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", path=str(path), line=1)
    texts: dict[str, str] = {}
    facts: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) and {"id", "text"} <= v.keys() for v in value):
            for k, item in enumerate(value):
                sid, text = str(item["id"]), item["text"]
                if not isinstance(text, str) or not text.strip():
                    raise InputError("statement text must be non-empty text", path=str(path), field=f"{key}[{k}].text")
                if texts.get(sid, text) != text:
                    raise InputError(f"statement {sid!r} is listed twice with different texts", path=str(path), field=f"{key}[{k}]")
                texts[sid] = text
        else:
            facts[key] = value
    return texts, facts


def read_jsonl(path: str | Path) -> Profile:
    """Read a pnyx JSONL file (or a folder holding ``participants.jsonl``); see the module docstring."""
    path = Path(path)
    if path.is_dir():
        if not (path / PARTICIPANTS_FILE).is_file():
            raise InputError(f"folder has no {PARTICIPANTS_FILE}", path=str(path))
        path = path / PARTICIPANTS_FILE
    where = str(path)

    slate_path = path.parent / STATEMENTS_FILE
    known_texts, slate_facts = _statement_texts(slate_path) if slate_path.is_file() else ({}, {})
    texts: dict[str, tuple[str, int]] = {}  # statement id → (text, line that gave it) from the ratings
    first_use: dict[str, tuple[int, str]] = {}  # statement id → (line, field) of its first rating

    participants: list[Participant] = []
    judgments: list[Judgment] = []
    line_of: dict[str, int] = {}
    questions: dict[str, str] = {}
    prompt_questions: list[str] = []
    empty_answers = silent = 0

    for line, raw in enumerate(read_text(path).splitlines(), start=1):
        if not raw.strip():
            continue
        data = parse_json(raw, path=where, line=line)
        if not isinstance(data, dict):
            raise InputError(f"expected a JSON object, got {type(data).__name__}", path=where, line=line)
        record: ParticipantRecord = _validated(ParticipantRecord, data, path=path, line=line)
        pid = record.id
        if pid in line_of:
            raise InputError(f"duplicate participant id {pid!r} (first on line {line_of[pid]})", path=where, line=line, field="id")
        line_of[pid] = line

        answers: dict[str, str] = {}
        asked: set[str] = set()
        for k, answer in enumerate(record.answers):
            if answer.question_id in asked:
                raise InputError(f"duplicate question_id {answer.question_id!r}", path=where, line=line, field=f"answers[{k}].question_id")
            asked.add(answer.question_id)
            if answer.question is not None:
                questions.setdefault(answer.question_id, answer.question)
            if answer.used_in_paper_disc_prompt and answer.question_id not in prompt_questions:
                prompt_questions.append(answer.question_id)
            if answer.text is None or not answer.text.strip():
                empty_answers += 1
            else:
                answers[answer.question_id] = answer.text

        rated: set[str] = set()
        for k, rating in enumerate(record.ratings):
            sid = rating.statement_id
            if sid in rated:
                raise InputError(f"statement {sid!r} rated twice", path=where, line=line, field=f"ratings[{k}].statement_id")
            rated.add(sid)
            first_use.setdefault(sid, (line, f"ratings[{k}].statement_id"))
            if rating.label is not None:
                check_label(rating.label, rating.rating, path=path, line=line, field=f"ratings[{k}].label")
            if rating.statement is not None:
                if sid in known_texts:
                    expected, source = known_texts[sid], STATEMENTS_FILE
                else:
                    expected, first = texts.setdefault(sid, (rating.statement, line))
                    source = f"line {first}"
                if rating.statement != expected:
                    raise InputError(f"text of statement {sid!r} differs from the one in {source}", path=where, line=line,
                                     field=f"ratings[{k}].statement")
            judgments.append(Judgment(pid, sid, rating.rating, rating.explanation))

        if not answers and not record.ratings:
            silent += 1  # nothing to represent them by: left out, counted
            continue
        participants.append(Participant(pid, dict(sorted(answers.items(), key=lambda qa: natural_key(qa[0]))),
                                        dict(record.model_extra or {})))

    if not participants:
        raise InputError("no participants" + (f" with an answer or a rating ({silent} have neither)" if silent else ""),
                         path=where)
    order = {sid: k for k, sid in enumerate(known_texts)}
    statements = []
    for sid in sorted(first_use, key=lambda s: order.get(s, len(order))):
        text = known_texts.get(sid) or texts.get(sid, ("", 0))[0]
        if not text.strip():
            line, field = first_use[sid]
            raise InputError(f"no text for statement {sid!r}: give it in the rating's 'statement' field or in {STATEMENTS_FILE}",
                             path=where, line=line, field=field)
        statements.append(Statement(sid, text))

    info: dict[str, Any] = {"format": "jsonl", "questions": questions, "prompt_questions": prompt_questions}
    info.update(slate_facts)
    excluded = {k: v for k, v in (("empty answers", empty_answers), ("participants with no answers and no ratings", silent)) if v}
    # in the order of the ids (as every reader): the profile does not depend on the order of the lines
    participants.sort(key=lambda p: natural_key(p.id))
    return Profile.from_judgments(participants, statements, judgments, "rating", excluded=excluded, source=where, info=info)
