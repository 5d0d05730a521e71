"""Schemathesis against the app's own OpenAPI schema, in-process over WSGI (no network).

Every operation of ``/api/schema/`` is called with generated data — valid (positive) and invalid
(negative) — as the manager of a seeded project, with a token. No call may answer 5xx, and valid
calls must answer a documented status code, a documented content type and a body of the
documented shape. Bounded and derandomized, so a run is repeatable and takes a minute or two.

Nothing is skipped: operations that start work (version builds, imports, maps, training) queue their
Celery message when the transaction commits, and this test's transaction never does (it is rolled
back), so nothing reaches a broker or a worker.
"""

from contextlib import contextmanager

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.seed import seed_project

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}
CHECKS = {
    GenerationMode.POSITIVE: [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ],
    # Invalid input: only that it is refused cleanly, with a documented status.
    GenerationMode.NEGATIVE: [not_a_server_error, status_code_conformance],
}


@contextmanager
def keep_test_connection():
    """Like Django's test client: requests must not close the connection that holds the test transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def fuzz(operation, mode, path_parameters, headers):
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @settings(
        max_examples=MAX_EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the failing case is reported as generated
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS[mode], headers=headers)

    run()


def test_no_operation_answers_5xx_and_answers_match_the_schema(manager, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]  # the WSGI client's host
    seeded = seed_project(manager)
    headers = {"Authorization": f"Token {seeded['token']}"}
    with keep_test_connection():
        failures, operations = fuzz_all(headers, seeded["path"])
    assert operations >= 70
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)


def fuzz_all(headers, path_ids):
    # The schema itself may be behind sign-in: fetch it with the same token.
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), headers=headers)
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if operation.label == "DELETE /api/auth/token/":
            # It revokes the very token the fuzzer sends, and every later call would be a 401; it is
            # tested in tests/accounts/test_api_tokens.py.
            continue
        names = {p.name for p in operation.path_parameters}
        fixed = {name: value for name, value in path_ids.items() if name in names}
        # The seeded ids (so calls reach the view's logic), then generated ones (mostly 404s).
        passes = [(GenerationMode.POSITIVE, fixed)]
        if len(operation.query) or len(operation.body) or not fixed:  # something left to make invalid
            passes.append((GenerationMode.NEGATIVE, fixed))
        if fixed:
            passes.append((GenerationMode.NEGATIVE, {}))
        for mode, path_parameters in passes:
            try:
                fuzz(operation, mode, path_parameters, headers)
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures are collected, then reported
                failures.append(f"--- {operation.label} ({mode.value})\n{exc}")
    return failures, operations
