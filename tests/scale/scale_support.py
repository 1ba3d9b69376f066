"""What the scale tests share with their fixtures: the endpoint's known matrix and the source path."""

from __future__ import annotations

from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def rating(participant: str, statement: str) -> int:
    """The known matrix the test endpoint answers from (participant ``pI``, statement ``sJ``)."""
    return (7 * int(participant[1:]) + 3 * int(statement[1:])) % 5
