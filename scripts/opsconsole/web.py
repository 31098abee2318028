"""The console's HTTP side: Starlette routes, Jinja2 pages, htmx fragments.

Loopback only (the CLI binds 127.0.0.1 and the Host header must name it),
a strict Content-Security-Policy (every script and style from this server),
and the one write, redrive, guarded by a per-process CSRF token that only
the console's own pages carry. URLs hold ids, never personal data.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chalicelib.domain.exceptions import NotFound, ValidationFailed
from opsconsole import flow
from opsconsole.data import ConsoleData

__all__ = ["CSP", "VENDOR_FILES", "create_app", "pipeline_hops"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# npm packages installed by `make install` (see the Makefile's CONSOLE_NPM).
VENDOR_DIR = ROOT / ".tools" / "console" / "node_modules"
VENDOR_FILES = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
# What an id looks like (uuids, Cognito subs): anything else is refused, never echoed.
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
PAGES = [
    ("accounts", "Time machine"),
    ("people", "Person"),
    ("trace", "Trace"),
    ("failures", "Failures"),
    ("flow", "Flow"),
]


class SecurityHeaders:
    """ASGI middleware: the CSP and friends on every response, and its server time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                elapsed = (time.perf_counter() - started) * 1000
                headers["server-timing"] = f"app;dur={elapsed:.1f}"
            await send(message)

        await self.app(scope, receive, with_headers)


class Console:
    """The routes, bound to the data source and this process's CSRF token."""

    def __init__(self, data: ConsoleData) -> None:
        self.data = data
        self.csrf_token = secrets.token_urlsafe(32)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["pages"] = PAGES

    def render(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> Response:
        context.setdefault("active", "")
        context["csrf_token"] = self.csrf_token
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)

    # Time machine ---------------------------------------------------------------------

    async def accounts(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        if query and not ID.fullmatch(query):
            return self.render(
                request,
                "accounts.html",
                400,
                active="accounts",
                query="",
                found=[],
                error="That is not an account or user id.",
            )
        found = await run_in_threadpool(self.data.find_accounts, query) if query else []
        if len(found) == 1 and found[0]["id"] == query:
            return RedirectResponse(f"/accounts/{query}", status_code=303)
        return self.render(request, "accounts.html", active="accounts", query=query, found=found)

    async def account(self, request: Request) -> Response:
        account_id = request.path_params["account_id"]
        try:
            view = await run_in_threadpool(self.data.account, account_id)
        except NotFound:
            return self.render(
                request, "not_found.html", 404, active="accounts", what="No such account."
            )
        last = view.history.last_version
        return self.render(
            request,
            "account.html",
            active="accounts",
            view=view,
            state=view.history.state_at_version(last),
            series=view.history.series(),
        )

    async def account_state(self, request: Request) -> Response:
        account_id = request.path_params["account_id"]
        params = request.query_params
        error = None
        state: dict[str, Any] | None = None
        label = ""
        try:
            if params.get("at"):
                instant = params["at"]
                if len(instant) == 16:  # datetime-local without seconds
                    instant += ":00"
                instant = instant if instant.endswith("Z") else instant + "Z"
                state = await run_in_threadpool(self.data.account_at_instant, account_id, instant)
                label = f"as of {instant}"
            else:
                version = int(params.get("version", "0"))
                account = await run_in_threadpool(self.data.account_at_version, account_id, version)
                state = None if account is None else account.to_dict()
                label = f"after version {version}"
        except ValidationFailed as exc:
            error = str(exc)
        except NotFound as exc:
            error = str(exc)
        except ValueError:
            error = "the version must be a whole number"
        return self.render(request, "_state.html", state=state, label=label, error=error)

    # Person ---------------------------------------------------------------------------

    async def people(self, request: Request) -> Response:
        error = None
        if request.method == "POST":
            # POSTed, so that whatever is typed stays out of URLs and history.
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            query = form.get("q", [""])[0].strip()
            if ID.fullmatch(query):
                return RedirectResponse(f"/people/{query}", status_code=303)
            error = "That is not a user id (people are found by id only)."
        return self.render(
            request, "people.html", 400 if error else 200, active="people", error=error
        )

    async def person(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        try:
            person = await run_in_threadpool(self.data.person, user_id)
        except NotFound:
            return self.render(
                request, "not_found.html", 404, active="people", what="No such person."
            )
        return self.render(request, "person.html", active="people", person=person)

    # Trace ----------------------------------------------------------------------------

    async def trace(self, request: Request) -> Response:
        event_id = request.query_params.get("event_id", "").strip()
        subject = request.query_params.get("subject", "").strip()
        return self.render(
            request, "trace.html", active="trace", event_id=event_id, subject=subject
        )

    async def trace_hops(self, request: Request) -> Response:
        event_id = request.query_params.get("event_id", "").strip()
        subject = request.query_params.get("subject", "").strip()
        result = await run_in_threadpool(self.data.trace, event_id, subject)
        hops = pipeline_hops(result)
        done = bool(hops) and all(h["state"] in ("ok", "skipped") for h in hops)
        return self.render(
            request,
            "_hops.html",
            result=result,
            hops=hops,
            done=done,
            event_id=event_id,
            subject=subject,
        )

    # Failures -------------------------------------------------------------------------

    async def failures(self, request: Request) -> Response:
        statuses = await run_in_threadpool(self.data.failure_queues)
        return self.render(request, "failures.html", active="failures", statuses=statuses)

    async def failures_table(self, request: Request) -> Response:
        statuses = await run_in_threadpool(self.data.failure_queues)
        return self.render(request, "_queues.html", statuses=statuses)

    async def redrive(self, request: Request) -> Response:
        if not self._same_origin(request):
            return Response("cross-site request refused", status_code=403)
        name = request.path_params["queue"]
        try:
            result = await run_in_threadpool(self.data.redrive, name)
        except KeyError:
            return Response("no such failure queue", status_code=404)
        message = f"moved {result['moved']} message(s) from {result['queue']} back to " + str(
            result["source"]
        )
        if result.get("failed"):
            message += f"; {result['failed']} failed again and stay"
        statuses = await run_in_threadpool(self.data.failure_queues)
        return self.render(request, "_redrive.html", statuses=statuses, message=message)

    def _same_origin(self, request: Request) -> bool:
        token = request.headers.get("x-csrf-token", "")
        if not secrets.compare_digest(token.encode(), self.csrf_token.encode()):
            return False
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return False
        origin = request.headers.get("origin")
        return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"

    # Flow -----------------------------------------------------------------------------

    async def flow_page(self, request: Request) -> Response:
        return self.render(request, "flow.html", active="flow", minutes=30)

    async def flow_data(self, request: Request) -> Response:
        def compute() -> dict[str, Any]:
            events = self.data.recent_events()
            applied = self.data.applied(events)
            return flow.counts_over_time(events, applied, now=self.data.clock())

        return JSONResponse(await run_in_threadpool(compute))

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/accounts", status_code=303)


def pipeline_hops(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The trace as a pipeline: each hop's name, state (ok, pending, skipped) and detail."""
    if result.get("ledger") is None:
        return []
    stream = result.get("stream")
    index = result.get("index")
    hops = [
        {
            "name": "ledger",
            "state": "ok",
            "time": result["time"],
            "detail": f"version {result['ledger']['version']}",
        },
        {
            "name": "relay",
            "state": "ok" if stream else "pending",
            "time": stream["arrived"] if stream else "",
            "detail": "forwarded to the stream" if stream else "not forwarded yet",
        },
        {
            "name": "stream",
            "state": "ok" if stream else "pending",
            "time": stream["arrived"] if stream else "",
            "detail": f"{stream['shard']} seq {stream['sequence_number']}" if stream else "",
        },
        {
            "name": "archive",
            "state": "ok" if result.get("archive") else "pending",
            "time": "",
            "detail": result.get("archive") or "not delivered yet",
        },
        {
            "name": "index",
            "state": {True: "ok", False: "pending", None: "unknown"}[index],
            "time": "",
            "detail": {True: "indexed", False: "not indexed yet", None: "unknown"}[index]
            + (f" ({result['index_error']})" if result.get("index_error") else ""),
        },
    ]
    for name, position in sorted(result.get("consumers", {}).items()):
        subscribed = position.get("subscribed", True)
        if not subscribed:
            state, detail = "skipped", "not subscribed to this event"
        elif position.get("applied"):
            state, detail = "ok", f"applied (at v{position.get('version', 0)})"
        else:
            state, detail = "pending", f"not applied (at v{position.get('version', 0)})"
        hops.append(
            {
                "name": f"consumer {name}",
                "state": state,
                "time": str(position.get("time") or position.get("applied_at") or ""),
                "detail": detail,
            }
        )
    return hops


def create_app(data: ConsoleData, *, vendor_dir: Path = VENDOR_DIR) -> Starlette:
    """The console's ASGI app over ``data``."""
    console = Console(data)
    missing = [f for f in VENDOR_FILES.values() if not (vendor_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"console assets missing (run `make install`): {missing}")

    async def vendor(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in VENDOR_FILES:
            return Response("not found", status_code=404)
        media = "text/css" if name.endswith(".css") else "text/javascript"
        return Response((vendor_dir / VENDOR_FILES[name]).read_bytes(), media_type=media)

    routes = [
        Route("/", console.home),
        Route("/accounts", console.accounts),
        Route("/accounts/{account_id}", console.account),
        Route("/accounts/{account_id}/state", console.account_state),
        Route("/people", console.people, methods=["GET", "POST"]),
        Route("/people/{user_id}", console.person),
        Route("/trace", console.trace),
        Route("/trace/hops", console.trace_hops),
        Route("/failures", console.failures),
        Route("/failures/queues", console.failures_table),
        Route("/failures/{queue}/redrive", console.redrive, methods=["POST"]),
        Route("/flow", console.flow_page),
        Route("/flow/data", console.flow_data),
        Route("/vendor/{name}", vendor),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"]),
            Middleware(SecurityHeaders),
        ],
    )
    app.state.console = console
    return app
