"""Property-based API tests from the OpenAPI schema (schemathesis) against a live server: for an admin
and an unprivileged user, no operation answers 5xx and every response conforms to the schema."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from knox.models import AuthToken

from tests.extensions_core.api.conftest import make_user, token_client
from tests.extensions_core.api.test_rbac_matrix import OBJECT_OPERATIONS, PLATFORM_OPERATIONS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.parametrize("role", ["superuser", "no_grants"])
def test_every_operation_conforms_and_never_answers_5xx(platform, live_server, role):
    document = token_client(make_user("superuser", None)).get("/api/schema/?format=json").json()
    schema = schemathesis.openapi.from_dict(document)
    user = make_user(role, None)
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]

    for operation in operations:

        @given(case=operation.as_strategy())
        @SETTINGS
        def exercise(case):
            # PostgreSQL cannot store the NUL character in JSON, so bodies holding one are answered 400 naming
            # the field (test_background_tasks.py), which the schema cannot express; such bodies are skipped.
            assume("\\u0000" not in json.dumps(case.body, default=str))
            # A fresh token per call: the revoke operation is exercised too.
            _, token = AuthToken.objects.create(user, expiry=None)
            case.call_and_validate(base_url=live_server.url, headers={"Authorization": f"Token {token}"})

        try:
            exercise()
        except Exception as failure:  # noqa: BLE001 - collected so every operation is reported
            failures.append(f"{operation.label}: {failure}")

    assert len(operations) == len(OBJECT_OPERATIONS) + len(PLATFORM_OPERATIONS)
    assert failures == []
