"""Where the real files live: the bundled Polis export and the shared chatbot-personalization data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"
CHATBOT = REPO.parent / "shared" / "data" / "chatbot_personalization"


@pytest.fixture
def chatbot() -> Path:
    if not CHATBOT.is_dir():
        pytest.skip(f"shared data folder {CHATBOT} is absent")
    return CHATBOT


@pytest.fixture
def polis() -> Path:
    return POLIS
