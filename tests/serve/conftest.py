"""Fixtures for ``pnyx serve``: a throwaway PostgreSQL cluster, a live server in a subprocess, a browser.

``db_url`` is parametrised: every test that takes it runs on a SQLite file and on a real PostgreSQL
server started from Debian's ``postgresql`` package (:mod:`pgcluster`).
Missing binaries fail the tests, they do not skip them (``bash scripts/install.sh --dev`` installs both).
"""

from __future__ import annotations

import shutil

import pytest

import pgcluster
from serving import CHROMIUM_ARGS, LiveServer

INSTALL_HINT = "bash scripts/install.sh --dev installs it"


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL cluster for this test session (:mod:`pgcluster`); missing binaries fail the tests."""
    try:
        with pgcluster.pg_cluster() as cluster:
            yield cluster
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def new_pg_database(cluster) -> str:
    return cluster.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a new database on the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return str(tmp_path / "pnyx.db")
    return new_pg_database(request.getfixturevalue("pg_cluster"))


@pytest.fixture
def sqlite_url(tmp_path):
    return str(tmp_path / "pnyx.db")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_server(request, tmp_path_factory):
    """``pnyx serve`` on a fresh SQLite file or PostgreSQL database, shared by a module's tests (each test
    makes its own consultation)."""
    folder = tmp_path_factory.mktemp(f"serve-{request.param}")
    url = str(folder / "pnyx.db") if request.param == "sqlite" else new_pg_database(request.getfixturevalue("pg_cluster"))
    server = LiveServer(url, folder).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_server(db_url, tmp_path):
    """A server of its own (for tests that kill it)."""
    server = LiveServer(db_url, tmp_path).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    path = shutil.which("chromium")
    if path is None:
        pytest.fail(f"Debian's chromium package is missing; {INSTALL_HINT}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


