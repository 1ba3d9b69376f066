"""``pnyx serve``: live consultations in the browser (an adapter over the pnyx core).

One process: a Starlette app under uvicorn, Jinja2 templates, htmx served from this package, a
SQLite file (WAL) or PostgreSQL through SQLAlchemy 2 with Alembic migrations, and jobs (generation
rounds, process runs) executed in-process from a table. See :mod:`pnyx.serve.app` for the routes
and the security model, :mod:`pnyx.serve.service` for what organisers and participants can do,
:mod:`pnyx.serve.chooser` for the pluggable choice of what to rate next.
"""

from pnyx.serve.chooser import (CHOOSERS, DEFAULT_CHOOSER, Chooser, ConsultationState, LivePlanner, least_rated,
                                make_chooser, random_order)

__all__ = ["CHOOSERS", "DEFAULT_CHOOSER", "Chooser", "ConsultationState", "LivePlanner", "create_app",
           "least_rated", "make_chooser", "random_order"]


def create_app(*args, **kwargs):
    """:func:`pnyx.serve.app.create_app` (imported on use: the web stack is an optional extra)."""
    from pnyx.serve.app import create_app as make

    return make(*args, **kwargs)
