"""The web app: Starlette routes over :mod:`pnyx.serve.service`, Jinja2 templates (autoescaped), htmx.

Identity travels in first-party cookies set when a link is opened (``/i/<token>`` invite, ``/o/<token>``
open link, ``/a/<secret>`` organiser); participants' pages take no participant or consultation id
from the URL, so there is none to change. Every POST needs the session's CSRF token (form field
``csrf`` or header ``X-CSRF-Token``, which htmx sends from ``hx-headers``). Wrong tokens are
rate-limited per client address. Every response carries a Content-Security-Policy without inline
scripts; ``report.html`` downloads get one that allows no script at all.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import threading
import time
import zipfile
from collections import defaultdict, deque
from pathlib import Path
from typing import Any, Callable

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pnyx.data import InputError
from pnyx.scale import get_scale
from pnyx.serve import jobs as jobs_mod
from pnyx.serve import service
from pnyx.serve.chooser import DEFAULT_CHOOSER, Chooser, make_chooser
from pnyx.serve.db import Database
from pnyx.serve.models import OUTPUT_COLUMNS, Consultation, Job, Participant, Run

HERE = Path(__file__).parent
ADMIN_COOKIE, PARTICIPANT_COOKIE = "pnyx_admin", "pnyx_p"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY", "Cache-Control": "no-store"}
"""Headers of every response (a response may set its own CSP; static files may be cached)."""
FILE_FIELDS = ("file", "files")
"""The form fields that may carry an uploaded file; any other field must be text."""


class RateLimiter:
    """At most ``limit`` failed token entries per client address in ``window`` seconds; then 429."""

    def __init__(self, limit: int = 10, window: float = 60.0):
        self.limit, self.window = limit, window
        self._fails: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque:
        q = self._fails[key]
        while q and q[0] < time.monotonic() - self.window:
            q.popleft()
        return q

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key)) >= self.limit

    def fail(self, key: str) -> None:
        with self._lock:
            self._recent(key).append(time.monotonic())


class SecurityHeaders:
    """ASGI middleware: CSP and the other security headers on every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope["path"].startswith("/static/")

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if not (static and name == "Cache-Control"):
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def _label(scale: str, value: float) -> str:
    return get_scale(scale).value_label(value)


def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["scale_of"] = get_scale
    env.filters["label"] = lambda value, scale: _label(scale, value)
    env.filters["utility_label"] = lambda u, scale: get_scale(scale).label(u)
    return env


def create_app(db_url: str = "pnyx.db", *, chooser: Chooser | str = DEFAULT_CHOOSER, per_participant: int | None = None,
               run_jobs: bool = True, token_limit: int = 10, executor: Any = None) -> Starlette:
    """The ASGI app on the database at ``db_url`` (migrated on creation).

    Parameters
    ----------
    chooser
        What participants rate next: a name in :data:`pnyx.serve.chooser.CHOOSERS` (default ``planner``) or a
        chooser.
    per_participant
        At most this many judgments asked of each participant (None: no limit).
    run_jobs
        Start the in-process job runner (with several worker processes, one runner runs in the parent).
    token_limit
        Wrong secret links per client address and minute before 429.
    executor
        Where jobs run their model queries (:func:`pnyx.queries.executor.get_executor`; default local).

    Raises
    ------
    pnyx.registry.UnknownNameError
        For an unknown chooser name.
    """
    chooser = make_chooser(chooser) if isinstance(chooser, str) else chooser
    db = Database(db_url)
    env = templates()
    limiter = RateLimiter(limit=token_limit)
    runner = jobs_mod.JobRunner(db, executor=executor)
    with db.write() as s:
        key = service.server_key(s)

    def render(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**ctx), status_code=status)

    def client(request: Request) -> str:
        return request.client.host if request.client else "?"

    async def call(fn: Callable, *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    async def form_of(request: Request, cookie: str) -> Any:
        """The POSTed form, after the CSRF check for the session in ``cookie``; files only in :data:`FILE_FIELDS`."""
        form = await request.form(max_files=20, max_fields=2000)
        token = request.headers.get("x-csrf-token") or form.get("csrf")
        session_cookie = request.cookies.get(cookie)
        if not isinstance(token, str) or not session_cookie or not service.check_csrf(key, session_cookie, token):
            raise HTTPException(403, "missing or wrong CSRF token")
        for name, value in form.multi_items():
            if not isinstance(value, str) and name not in FILE_FIELDS:
                raise HTTPException(400, f"field {name!r}: expected text, got a file")
        return form

    def error_page(exc: InputError, status: int = 400) -> HTMLResponse:
        return render("error.html", status=status, message=str(exc))

    def consultation_of(s, cid: Any) -> Consultation:
        try:
            return service.get_consultation(s, cid)
        except InputError as exc:
            raise HTTPException(404, exc.reason) from None

    # -- identity ----------------------------------------------------------------------------------
    def admin_of(s, request: Request):
        row = service.session_of(s, request.cookies.get(ADMIN_COOKIE))
        if row is None or not row.is_admin:
            raise HTTPException(403, "organisers only: open the organiser link printed by `pnyx serve`")
        return row

    def participant_of(s, request: Request) -> Participant:
        p = service.participant_of_session(s, request.cookies.get(PARTICIPANT_COOKIE))
        if p is None:
            raise HTTPException(403, "open your invite link first")
        return p

    def login(cookie_name: str, make: Callable) -> Callable:
        """A GET handler for a secret link: check it (rate-limited), start a session, redirect."""

        async def handler(request: Request) -> Response:
            who = client(request)
            if limiter.blocked(who):
                return render("error.html", status=429, message="Too many wrong links from your address; "
                                                                "wait a minute and try again.")
            token = request.path_params.get("token") or request.query_params.get("token", "")

            def work():
                with db.write() as s:
                    found = make(s, token.strip(), request)
                    if found is None:
                        return None
                    target, kwargs = found
                    return target, service.new_session(s, **kwargs)

            try:
                done = await call(work) if token else None
            except InputError as exc:
                limiter.fail(who)
                return error_page(exc, 403)
            if done is None:
                limiter.fail(who)
                return render("error.html", status=404, message="This link is not valid (or no longer valid).")
            target, cookie = done
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(cookie_name, cookie, httponly=True, samesite="lax", max_age=180 * 86400,
                                secure=request.url.scheme == "https")
            return response

        return handler

    def make_admin(s, token, request):
        return ("/admin", {"admin": True}) if service.check_admin_secret(s, token) else None

    def make_invite(s, token, request):
        p = service.participant_by_token(s, token)
        if p is None:
            return None
        if p.joined_at is None:
            p.joined_at = service.now()
        return "/me", {"participant": p}

    def make_open(s, token, request):
        p = service.join_open(s, token, request.query_params.get("xid"))
        return None if p is None else ("/me", {"participant": p})

    # -- public ------------------------------------------------------------------------------------
    async def home(request: Request) -> Response:
        return render("home.html")

    # -- participant -------------------------------------------------------------------------------
    def batch_of(s, p: Any) -> list:
        return service.next_batch(s, p, chooser, per_participant=per_participant)

    def participant_context(s, request: Request, p: Participant, **extra: Any) -> dict[str, Any]:
        c = s.get(Consultation, p.consultation_id)
        return {"c": c, "p": p, "csrf": service.csrf_token(key, request.cookies[PARTICIPANT_COOKIE]),
                "mine": service.own_data(s, p), "batch": batch_of(s, p), "writing_open": service.writing_open(c),
                "rating_open": service.rating_open(c), "result": service.my_result(s, c, p), **extra}

    async def me(request: Request) -> Response:
        def work():
            with db.read() as s:
                p = participant_of(s, request)
                saved = request.query_params.get("saved")
                return render("participant.html", **participant_context(s, request, p, saved=saved))

        return await call(work)

    async def me_json(request: Request) -> Response:
        def work():
            with db.read() as s:
                return JSONResponse(service.own_data(s, participant_of(s, request)))

        return await call(work)

    def batch_context(s, request: Request, p: Any, **extra: Any) -> dict[str, Any]:
        c = service.consultation_row(s, p.consultation_id)
        return {"c": c, "p": p, "csrf": service.csrf_token(key, request.cookies[PARTICIPANT_COOKIE]),
                "batch": batch_of(s, p), "rating_open": service.rating_open(c), **extra}

    def participant_row_of(s, request: Request):
        """``(id, number, consultation_id)`` of the session's participant (no ORM object: the rating paths)."""
        p = service.participant_row(s, request.cookies.get(PARTICIPANT_COOKIE))
        if p is None:
            raise HTTPException(403, "open your invite link first")
        return p

    async def me_batch(request: Request) -> Response:
        def work():
            with db.read() as s:
                return render("_batch.html", **batch_context(s, request, participant_row_of(s, request)))

        return await call(work)

    async def post_opinion(request: Request) -> Response:
        form = await form_of(request, PARTICIPANT_COOKIE)

        def work():
            try:
                with db.write() as s:
                    made = service.submit_opinion(s, participant_of(s, request), str(form.get("opinion", "")))
            except InputError as exc:
                return error_page(exc)
            if request.headers.get("accept", "").startswith("application/json"):
                return JSONResponse({"saved": made is not None, "statement": made and made.sid})
            return RedirectResponse("/me?saved=opinion" if made else "/me?saved=duplicate", status_code=303)

        return await call(work)

    async def post_judgments(request: Request) -> Response:
        form = await form_of(request, PARTICIPANT_COOKIE)
        flagged = form.get("flag")
        values = {k[2:]: v for k, v in form.items() if k.startswith("j-") and v != "" and k[2:] != flagged}

        def work():
            if not values and not flagged:
                return error_page(InputError("nothing to save: choose a judgment first", field="judgment"))
            try:
                with db.read() as s:  # checks outside the writer lock; the write is one transaction
                    p = participant_row_of(s, request)
                    rows = service.check_judgments(s, p, values)
                with db.write() as s:
                    if flagged:
                        service.flag(s, p, str(flagged))
                    service.save_judgments(s, rows)
                count = len(rows)
            except InputError as exc:
                return error_page(exc)
            if request.headers.get("accept", "").startswith("application/json"):
                return JSONResponse({"saved": count})
            if request.headers.get("hx-request"):
                with db.read() as s:
                    return render("_batch.html", **batch_context(s, request, p, saved_count=count, flagged=flagged))
            return RedirectResponse("/me?saved=judgments", status_code=303)

        return await call(work)

    # -- organiser ---------------------------------------------------------------------------------
    def admin_context(s, request: Request, **extra: Any) -> dict[str, Any]:
        return {"csrf": service.csrf_token(key, request.cookies[ADMIN_COOKIE]), **extra}

    def consultation_context(s, request: Request, cid: Any, **extra: Any) -> dict[str, Any]:
        c = consultation_of(s, cid)
        runs = s.scalars(select(Run).where(Run.consultation_id == c.id).order_by(Run.id.desc())).all()
        joblist = s.scalars(select(Job).where(Job.consultation_id == c.id).order_by(Job.id.desc()).limit(10)).all()
        slates = {r.id: json.loads(r.slate_json) for r in runs}
        return admin_context(s, request, c=c, stats=service.stats(s, c), queue=service.moderation_queue(s, c),
                             backends=jobs_mod.BACKENDS,
                             runs=runs, slates=slates, jobs=joblist, validation=service.validation_summary(s, c),
                             **extra)

    async def admin(request: Request) -> Response:
        def work():
            with db.read() as s:
                admin_of(s, request)
                cs = s.scalars(select(Consultation).order_by(Consultation.id.desc())).all()
                return render("admin.html", **admin_context(s, request, consultations=cs))

        return await call(work)

    async def admin_create(request: Request) -> Response:
        form = await form_of(request, ADMIN_COOKIE)
        fields = ("question", "description", "scale", "k", "word_budget", "max_chars", "moderation",
                  "writing_closes", "rating_closes", "seed")

        def work():
            try:
                with db.write() as s:
                    admin_of(s, request)
                    c = service.create_consultation(s, **{f: form.get(f) for f in fields if form.get(f) is not None})
            except InputError as exc:
                return error_page(exc)
            return RedirectResponse(f"/admin/c/{c.id}", status_code=303)

        return await call(work)

    async def admin_import(request: Request) -> Response:
        form = await form_of(request, ADMIN_COOKIE)
        uploads = [(Path(f.filename or "").name, await f.read()) for f in form.getlist("files") if hasattr(f, "read")]
        uploaded = {name for name, _ in uploads}

        def work():
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    for name, data in uploads:
                        if name in ("comments.csv", "votes.csv", "participants-votes.csv", "summary.csv"):
                            (Path(tmp) / name).write_bytes(data)
                    with db.write() as s:
                        admin_of(s, request)
                        extra = {"question": form.get("question")} if form.get("question") else {}
                        c = service.import_polis(s, tmp, k=form.get("k") or 3, **extra)
            except InputError as exc:  # the temporary folder means nothing to the organiser: only the file's name
                name = Path(exc.path).name if exc.path and Path(exc.path).name in uploaded else None
                return error_page(InputError(exc.reason, path=name, line=exc.line, field=exc.field))
            return RedirectResponse(f"/admin/c/{c.id}", status_code=303)

        return await call(work)

    async def admin_consultation(request: Request) -> Response:
        def work():
            with db.read() as s:
                admin_of(s, request)
                return render("consultation.html", **consultation_context(
                    s, request, request.path_params["cid"], request_done=request.query_params.get("done")))

        return await call(work)

    async def admin_live(request: Request) -> Response:
        def work():
            with db.read() as s:
                admin_of(s, request)
                return render("_live.html", **consultation_context(s, request, request.path_params["cid"]))

        return await call(work)

    def admin_action(action: Callable[..., Any]) -> Callable:
        """A POST on a consultation: CSRF, organiser check, ``action(s, c, form, files)`` in one transaction;
        it returns a response, or None to go back to the dashboard."""

        async def handler(request: Request) -> Response:
            form = await form_of(request, ADMIN_COOKIE)
            files = {k: await v.read() for k, v in form.multi_items() if hasattr(v, "read")}

            def work():
                try:
                    with db.write() as s:
                        admin_of(s, request)
                        c = consultation_of(s, request.path_params["cid"])
                        out = action(s, c, form, files, request)
                except InputError as exc:
                    return error_page(exc)
                if isinstance(out, Response):
                    return out
                runner.wake()
                return RedirectResponse(f"/admin/c/{c.id}" + (f"?done={out}" if out else ""), status_code=303)

            return await call(work)

        return handler

    def do_seeds(s, c, form, files, request):
        data = files.get("file")
        if not data:
            text = str(form.get("text", ""))
            made = service.add_statements(s, c, text.splitlines(), source="seed")
        else:
            made = service.seed_from_csv(s, c, data, name="upload")
        return f"{len(made)} seed statements added"

    def do_invites(s, c, form, files, request):
        made = service.create_invites(s, c, form.get("count") or 0, str(form.get("xids", "")).splitlines())
        base = str(request.base_url).rstrip("/")
        links = [(p.number, p.xid, f"{base}/i/{token}") for p, token in made]
        return render("invites.html", **admin_context(s, request, c=c, links=links))

    def do_open_link(s, c, form, files, request):
        token = service.set_open_link(s, c)
        base = str(request.base_url).rstrip("/")
        return render("invites.html", **admin_context(s, request, c=c, open_link=f"{base}/o/{token}"))

    def do_moderate(s, c, form, files, request):
        st = service.moderate(s, c, str(form.get("statement", "")), str(form.get("action", "")))
        return f"statement {st.sid} {st.status}"

    def do_job(s, c, form, files, request):
        kind = str(form.get("kind", ""))
        params = {}
        if kind == "process":
            from pnyx.queries import DISCRIMINATIVE

            backend = str(form.get("backend") or "offline")
            DISCRIMINATIVE[backend]  # an unknown name: UnknownNameError, an InputError listing the known ones
            params = {"backend": backend, "accuracy": bool(form.get("accuracy"))}
        job = jobs_mod.enqueue(s, c, kind, params)
        return f"job {job.id} queued"

    def do_publish(s, c, form, files, request):
        r = service.publish(s, c, form.get("run"))
        return f"run {r.id} published"

    def do_validation(s, c, form, files, request):
        service.start_validation(s, c)
        return "validation phase open"

    async def run_file(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in OUTPUT_COLUMNS:
            raise HTTPException(404)

        def work():
            with db.read() as s:
                admin_of(s, request)
                rid = service.row_id(request.path_params["rid"])
                r = None if rid is None else s.get(Run, rid)
                if r is None or r.consultation_id != request.path_params["cid"]:
                    raise HTTPException(404)
                body = getattr(r, OUTPUT_COLUMNS[name])
            media = {"json": "application/json", "csv": "text/csv", "html": "text/html"}[name.rsplit(".", 1)[1]]
            headers = {"Content-Security-Policy": REPORT_CSP}
            if name != "report.html":
                headers["Content-Disposition"] = f'attachment; filename="run-{r.id}-{name}"'
            return Response(body, media_type=f"{media}; charset=utf-8", headers=headers)

        return await call(work)

    async def export_zip(request: Request) -> Response:
        def work():
            with db.read() as s:
                admin_of(s, request)
                c = consultation_of(s, request.path_params["cid"])
                with tempfile.TemporaryDirectory() as tmp:
                    service.export(s, c, tmp)
                    buf = io.BytesIO()
                    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                        for f in sorted(Path(tmp).rglob("*")):
                            if f.is_file():
                                z.write(f, f.relative_to(tmp).as_posix())
            return Response(buf.getvalue(), media_type="application/zip",
                            headers={"Content-Disposition": f'attachment; filename="consultation-{c.id}.zip"'})

        return await call(work)

    async def on_error(request: Request, exc: HTTPException) -> Response:
        return render("error.html", status=exc.status_code, message=exc.detail)

    async def on_crash(request: Request, exc: Exception) -> Response:
        """A 500 page with the security headers (Starlette sends it from outside every middleware)."""
        response = render("error.html", status=500, message="Something went wrong on the server (its log says what).")
        response.headers.update(SECURITY_HEADERS)
        return response

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if run_jobs:
            await run_in_threadpool(runner.start)
        yield
        runner.stop()
        db.dispose()

    routes = [
        Route("/", home),
        Route("/a/{token}", login(ADMIN_COOKIE, make_admin)),
        Route("/i/{token}", login(PARTICIPANT_COOKIE, make_invite)),
        Route("/join", login(PARTICIPANT_COOKIE, make_invite)),
        Route("/o/{token}", login(PARTICIPANT_COOKIE, make_open)),
        Route("/me", me),
        Route("/me.json", me_json),
        Route("/me/batch", me_batch),
        Route("/me/opinion", post_opinion, methods=["POST"]),
        Route("/me/judgments", post_judgments, methods=["POST"]),
        Route("/admin", admin),
        Route("/admin/consultations", admin_create, methods=["POST"]),
        Route("/admin/import", admin_import, methods=["POST"]),
        Route("/admin/c/{cid:int}", admin_consultation),
        Route("/admin/c/{cid:int}/live", admin_live),
        Route("/admin/c/{cid:int}/seeds", admin_action(do_seeds), methods=["POST"]),
        Route("/admin/c/{cid:int}/invites", admin_action(do_invites), methods=["POST"]),
        Route("/admin/c/{cid:int}/open-link", admin_action(do_open_link), methods=["POST"]),
        Route("/admin/c/{cid:int}/moderate", admin_action(do_moderate), methods=["POST"]),
        Route("/admin/c/{cid:int}/jobs", admin_action(do_job), methods=["POST"]),
        Route("/admin/c/{cid:int}/publish", admin_action(do_publish), methods=["POST"]),
        Route("/admin/c/{cid:int}/validation", admin_action(do_validation), methods=["POST"]),
        Route("/admin/c/{cid:int}/runs/{rid:int}/{name}", run_file),
        Route("/admin/c/{cid:int}/export.zip", export_zip),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={HTTPException: on_error, Exception: on_crash}, lifespan=lifespan)
    app.state.db, app.state.runner = db, runner
    return app


WORKER_OPTIONS = "PNYX_SERVE_WORKER"
"""Environment variable through which ``pnyx serve --workers N`` hands its options to the worker processes."""


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies (a SIGKILLed ``pnyx serve`` leaves no worker behind)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_app() -> Starlette:
    """The app of one worker process of ``pnyx serve --workers N`` (uvicorn's factory): options from
    :data:`WORKER_OPTIONS`; no job runner (the parent runs the one runner)."""
    _die_with_parent()
    options = json.loads(os.environ[WORKER_OPTIONS])
    return create_app(options["db"], chooser=options["chooser"], per_participant=options["per_participant"],
                      run_jobs=False)


def first_start(db_url: str, *, new_link: bool = False) -> str | None:
    """Create the organiser secret on first start (or when ``new_link``); returns it, or None if one exists."""
    db = Database(db_url)
    try:
        with db.write() as s:
            if service.has_admin_secret(s) and not new_link:
                return None
            return service.set_admin_secret(s)
    finally:
        db.dispose()
