"""Schemathesis against the project's own OpenAPI schema: generated requests (valid and not)
never produce a server error, and responses match the schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from liangyi.core.models import ApiToken
from liangyi.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Requests go straight to the WSGI app here, not through Django's test client, so Django
    would close the database connection after each one (and with it the test's transaction on
    PostgreSQL). The test client disconnects the same handler."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(personas, person) -> dict[str, str]:
    _, key = ApiToken.issue(personas["worker"], 1)
    return {"Authorization": f"Bearer {key}"}


@schema.parametrize()
@settings(max_examples=25, suppress_health_check=list(HealthCheck), deadline=None)
def test_the_api_keeps_its_contract(case, bearer):
    # Business rules reject some schema-valid input on purpose (a wrong check character in an ID
    # number, a wrong password): "schema-valid must be accepted" does not hold for this API.
    # call_and_validate raises on any failed check (a 5xx, an undocumented status, a response
    # that does not match the schema); the assertion states the first of them plainly.
    response = case.call_and_validate(headers=bearer, excluded_checks=[positive_data_acceptance])
    assert response.status_code < 500
