"""Routes and event handlers: wiring only; the work is in chalicelib.

Authentication is a Chalice HTTP middleware rather than a built-in
authorizer: the same code verifies the token in ``chalice local``, in the
test client and in Lambda (chalice local's CognitoUserPoolAuthorizer never
checks signatures, and an API Gateway authorizer answers 401/403 in its own
shape, not the documented one). Routes get the verified Caller and pass it
to chalicelib, where each operation's access rule lives.

Every function imports this module, but each plays one role: handlers reach
their role's code through ``chalicelib.entrypoints.roots``, which imports it on first
use, so a function imports only what its own role needs.

In Lambda a process runs one function, the handler ``_HANDLER`` names
(``settings.lambda_handler``: ``app.<handler name>``, the API ``app.app``).
This module's end imports that function's roles, those its handler reaches
(``roots.reached_by`` reads them from the handler's code, so no table
repeats them), while the collector is still off for this module's imports
(below), instead of on the first event with the collector on. Without
``_HANDLER`` (chalice local, tests, scripts) every role stays lazy.

The API goes further: a request imports what its route needs. Each route
calls its route group's root, ``roots.users``, ``roots.accounts``,
``roots.consumer_views``, ``roots.search_queries`` or ``roots.document`` (the
route table is this module: the group a view calls is its group). Token
verification (``roots.caller``: cryptography's RSA) is imported by
the middleware on the first request to a route that is not public, response
shaping (``roots.responses``: the response models) on the first success
body but GET /health's, a constant (``edge.HEALTH_BODY``). So ``GET /health``
imports neither a route group nor cryptography nor pydantic, and
``POST /users`` imports the user routes' code, not the accounts', search's
or OpenAPI's. The API imports no role with this module (measured: what every
authenticated route needs would cost GET /health more than it saves POST
/users). ``scripts/bench_cold_start.py`` measures both (its ``api_handler``
and ``api_handler (POST /users)`` figures), and
``tests/tools/test_cold_import.py`` checks what each imports, with this
module and on the first call.
"""

from __future__ import annotations

# ruff: noqa: E402 (the collector is turned off before the imports below)
import gc

# A cold start imports hundreds of modules whose objects (modules, classes, model
# schemas) live as long as the process: the full collections their allocation
# triggers free nothing. So the collector is off while this module imports,
# and at its end what exists is frozen (no later collection scans it again)
# before the collector is turned back on. Measured with bench_cold_start.py's
# children (CPU time, 9 rounds; API, projector and two subscribers): median
# 1.83x import boto3, pydantic with this, 1.98x without.
gc.disable()

from collections.abc import Callable, Mapping
from typing import Any, cast

from chalice import Chalice, Response
from chalice.app import DynamoDBEvent, KinesisEvent, Request, SQSEvent

from chalicelib import resources
from chalicelib.adapters import observability
from chalicelib.domain.access import Caller
from chalicelib.entrypoints import edge, roots
from chalicelib.entrypoints.http import CALLER, api_errors, authenticate, json_response, respond
from chalicelib.settings import get_settings

app = Chalice(app_name="event-platform")
settings = get_settings()
# First: the edge middleware is the outermost (error shape, media types, sizes, CORS).
edge.install(app, settings.cors_allowed_origins)
app.register_middleware(observability.log_requests, "http")
# API Gateway requires a route's content types to agree on binary support
# (`chalice deploy` refuses mixed lists), and a form or text body is refused
# (415) by the edge middleware: body routes declare JSON only.
JSON_BODY_TYPES = [edge.JSON_MEDIA_TYPE]


def _request() -> Request:
    # Chalice sets current_request before calling a route.
    return cast(Request, app.current_request)


def _caller() -> Caller:
    # The authentication middleware put it there before any non-public route runs.
    return cast(Caller, _request().context[CALLER])


@app.middleware("http")
def bearer_tokens(request: Request, get_response: Callable[[Request], Response]) -> Response:
    # A public route answers without the token verification (nor its import).
    return authenticate(request, get_response)


@app.route("/health", methods=["GET"])
@api_errors
def health() -> Any:
    return json_response(edge.HEALTH_BODY)


@app.route("/openapi.json", methods=["GET"])
@api_errors
def openapi_document() -> Any:
    return json_response(roots.document.openapi_document(app.routes))


@app.route("/users", methods=["POST"], content_types=JSON_BODY_TYPES)
@api_errors
def register_user() -> Any:
    request = _request()
    return respond(roots.users.register_user(_caller(), request.raw_body, request.headers))


@app.route("/users/{user_id}", methods=["GET"])
@api_errors
def get_user(user_id: str) -> Any:
    return json_response(roots.users.get_user(_caller(), user_id))


@app.route("/users/{user_id}/loyalty", methods=["PUT"], content_types=JSON_BODY_TYPES)
@api_errors
def set_loyalty(user_id: str) -> Any:
    return json_response(roots.users.set_loyalty(_caller(), user_id, _request().raw_body))


@app.route("/users/{user_id}/consents", methods=["PUT"], content_types=JSON_BODY_TYPES)
@api_errors
def set_consents(user_id: str) -> Any:
    return json_response(roots.users.set_consents(_caller(), user_id, _request().raw_body))


@app.route("/users/{user_id}/purchases", methods=["POST"], content_types=JSON_BODY_TYPES)
@api_errors
def make_purchase(user_id: str) -> Any:
    request = _request()
    return respond(roots.users.make_purchase(_caller(), user_id, request.raw_body, request.headers))


@app.route("/accounts", methods=["POST"], content_types=JSON_BODY_TYPES)
@api_errors
def open_account() -> Any:
    request = _request()
    return respond(roots.accounts.open_account(_caller(), request.raw_body, request.headers))


@app.route("/accounts/{account_id}/deposits", methods=["POST"], content_types=JSON_BODY_TYPES)
@api_errors
def deposit(account_id: str) -> Any:
    request = _request()
    return respond(roots.accounts.deposit(_caller(), account_id, request.raw_body, request.headers))


@app.route("/accounts/{account_id}/withdrawals", methods=["POST"], content_types=JSON_BODY_TYPES)
@api_errors
def withdraw(account_id: str) -> Any:
    request = _request()
    return respond(
        roots.accounts.withdraw(_caller(), account_id, request.raw_body, request.headers)
    )


@app.route("/accounts/{account_id}", methods=["GET"])
@api_errors
def get_account(account_id: str) -> Any:
    return json_response(roots.accounts.get_account(_caller(), account_id, _request().query_params))


@app.route("/accounts/{account_id}/events", methods=["GET"])
@api_errors
def account_events(account_id: str) -> Any:
    return json_response(roots.accounts.account_events(_caller(), account_id))


@app.route("/accounts/{account_id}/statements/{month}", methods=["GET"])
@api_errors
def account_statement(account_id: str, month: str) -> Any:
    return json_response(roots.accounts.account_statement(_caller(), account_id, month))


@app.route("/loyalty/{user_id}", methods=["GET"])
@api_errors
def get_loyalty(user_id: str) -> Any:
    return json_response(roots.consumer_views.loyalty_status(_caller(), user_id))


@app.route("/gdpr/consents/{user_id}", methods=["GET"])
@api_errors
def get_gdpr_consents(user_id: str) -> Any:
    return json_response(
        roots.consumer_views.gdpr_consents(_caller(), user_id, _request().query_params)
    )


@app.route("/crm/contacts/{user_id}", methods=["GET"])
@api_errors
def get_crm_contact(user_id: str) -> Any:
    return json_response(roots.consumer_views.crm_contact(_caller(), user_id))


@app.route("/gdpr/erasure/{user_id}", methods=["POST"], content_types=JSON_BODY_TYPES)
@api_errors
def erase_user(user_id: str) -> Any:
    return respond(roots.users.erase_user(_caller(), user_id, _request().headers))


@app.on_dynamodb_record(
    stream_arn=settings.ledger_stream_arn, batch_size=100, starting_position="TRIM_HORIZON"
)
def ledger_relay(event: DynamoDBEvent) -> None:
    roots.relay.relay_ledger_records(event.to_dict()["Records"])


@app.on_kinesis_record(
    stream=settings.event_stream, batch_size=100, starting_position="TRIM_HORIZON"
)
def user_events_fanout(event: KinesisEvent) -> None:
    roots.fanout.fan_out_user_events([record.data for record in event])


@app.on_kinesis_record(
    stream=settings.event_stream, batch_size=100, starting_position="TRIM_HORIZON"
)
def projector(event: KinesisEvent) -> None:
    roots.projector.project_records([record.data for record in event])


@app.on_kinesis_record(
    stream=settings.event_stream, batch_size=100, starting_position="TRIM_HORIZON"
)
def search_erasure(event: KinesisEvent) -> None:
    roots.search.redact_erased_from_search([record.data for record in event])


@app.on_sqs_message(
    queue=settings.search_redaction_queue,
    batch_size=resources.SEARCH_LATE_REDACTION.batch_size,
    maximum_concurrency=resources.SEARCH_LATE_REDACTION.maximum_concurrency,
)
def search_late_redaction(event: SQSEvent) -> Mapping[str, object]:
    return roots.late_redaction.redact_late(event.to_dict(), event.context)


@app.lambda_function(name="search_transform")
def search_transform(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return roots.search.firehose_transform(event)


@app.lambda_function(name=resources.REPLAY.handler)
def replay_worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return roots.replay.replay_step(event)


def _subscribe(subscriber: resources.Subscriber) -> None:
    """Register the SQS handler of one declared subscriber as ``app.<handler>``."""
    key, queue = subscriber.key, subscriber.queue

    def handler(event: SQSEvent) -> Mapping[str, object]:
        # {"batchItemFailures": [...]}: the mapping reports batch item failures.
        return roots.subscribers.consume_user_events(key, event.to_dict(), event.context)

    # Lambda resolves the function as app.<handler>, so it must be a module attribute.
    handler.__name__ = handler.__qualname__ = subscriber.handler
    globals()[subscriber.handler] = app.on_sqs_message(
        queue=settings.queue(key),
        batch_size=queue.batch_size,
        maximum_batching_window_in_seconds=queue.maximum_batching_window_in_seconds,
        maximum_concurrency=queue.maximum_concurrency,
    )(handler)


for _subscriber in resources.SUBSCRIBERS:
    _subscribe(_subscriber)


@app.route("/search", methods=["GET"])
@api_errors
def search() -> Any:
    return json_response(roots.search_queries.search_events(_caller(), _request().query_params))


# Last: every other method of every path above reaches the edge (405, OPTIONS preflight).
edge.route_other_methods(app)


def _roles_of(handler: str) -> frozenset[str]:
    """The roles of the function Lambda runs as ``handler`` (``_HANDLER``: ``app.<name>``)."""
    module, _, name = handler.partition(".")
    if module != __name__:
        return frozenset()  # no _HANDLER: not one function (chalice local, tests, scripts)
    function = globals()[name]
    if function is app:
        # The API: none. Its routes reach different roles, and importing with app what
        # every authenticated route needs (roots.caller: cryptography's RSA) costs
        # GET /health more than it saves POST /users (README "Cold start, measured").
        return frozenset()
    # Chalice keeps the view as the handler's .func; a plain Lambda function's .func
    # adapts its event, the view is its registration's.
    views = {pure.handler_string: pure.func for pure in app.pure_lambda_functions}
    return roots.reached_by(views.get(handler) or function.func)


# Run as one function, import its roles now, with the collector still off (above),
# rather than on its first event with the collector on (see _roles_of): 50-66 M
# instructions less per function (README "Cold start, measured").
roots.preload(_roles_of(settings.lambda_handler))

# The imports are done (gc.disable() above): freeze what they made, collect again.
gc.freeze()
gc.enable()
