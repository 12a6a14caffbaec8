"""The core REST API: tokens and lockout, errors, jurisdictions, users, the schema, docs and health check."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from rest_framework.test import APIClient

from liangyi.core.api import exception_handler
from liangyi.core.errors import ConflictError, DomainError
from liangyi.core.models import ApiToken, AuditEntry, Jurisdiction, User
from liangyi.demo import factories

TOKEN_URL = "/api/v1/auth/token/"
JURISDICTIONS_URL = "/api/v1/jurisdictions/"
USERS_URL = "/api/v1/users/"
STRONG_PASSWORD = "quiet-river-lantern-73"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The personas' passwords are hashed for every test; the production hasher takes ~0.4 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def english() -> APIClient:
    """Messages are asserted in English (the msgids): the interface is Chinese unless one chooses."""
    client = APIClient()
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def api_for(user: User | None) -> APIClient:
    """A client sending a fresh bearer token of ``user`` (none for the anonymous visitor)."""
    client = english()
    if user is not None:
        _, key = ApiToken.issue(user, 1)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def bearer(key: str) -> APIClient:
    client = english()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def log_in(username: str, password: str):
    return english().post(TOKEN_URL, {"username": username, "password": password}, format="json")


class TestTokenIssue:
    def test_the_right_password_gets_a_token_that_works(self, personas):
        response = log_in("worker", factories.PASSWORD)
        assert response.status_code == 200
        body = response.json()
        expires = datetime.fromisoformat(body["expires_at"])
        assert timedelta(hours=11) < expires - timezone.now() <= timedelta(hours=12)
        assert bearer(body["token"]).get(JURISDICTIONS_URL).status_code == 200

    def test_it_records_the_last_login(self, personas):
        log_in("worker", factories.PASSWORD)
        personas["worker"].refresh_from_db()
        assert personas["worker"].last_login is not None

    def test_the_token_is_not_cached(self, personas):
        assert "no-store" in log_in("worker", factories.PASSWORD)["Cache-Control"]

    def test_only_a_hash_of_the_token_is_stored(self, personas):
        key = log_in("worker", factories.PASSWORD).json()["token"]
        token = ApiToken.objects.get(user=personas["worker"])
        assert token.key_hash == ApiToken.hash(key) != key

    def test_issuing_is_audited_with_the_api_channel(self, personas):
        log_in("worker", factories.PASSWORD)
        assert AuditEntry.objects.filter(action="login.succeeded", actor=personas["worker"],
                                         detail__channel="api").count() == 1
        assert AuditEntry.objects.filter(action="api_token.issued", actor=personas["worker"]).count() == 1

    def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(self, personas):
        wrong_password = log_in("worker", "not-the-password")
        unknown_user = log_in("nobody-by-this-name", "not-the-password")
        assert wrong_password.status_code == unknown_user.status_code == 400
        assert wrong_password.json() == unknown_user.json()
        assert wrong_password.json()["non_field_errors"][0].startswith("Wrong username or password")
        assert not ApiToken.objects.exists()

    def test_missing_fields_are_named(self, personas):
        response = APIClient().post(TOKEN_URL, {"username": "worker"}, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["password"]

    def test_the_account_locks_after_the_maximum_of_failures(self, personas, settings):
        settings.LOGIN_MAX_FAILURES = 3
        for _ in range(3):
            assert log_in("worker", "not-the-password").status_code == 400
        locked = log_in("worker", factories.PASSWORD)
        assert locked.status_code == 400
        assert "locked" in locked.json()["non_field_errors"][0]
        # the same answer as for a user who does not exist: no account enumeration
        assert locked.json() == log_in("nobody-at-all", factories.PASSWORD).json()
        assert not ApiToken.objects.exists()
        personas["worker"].refresh_from_db()
        assert personas["worker"].is_locked()
        assert AuditEntry.objects.filter(action="login.lockout", detail__channel="api").count() == 1

    def test_one_failure_short_of_the_maximum_still_lets_the_right_password_in(self, personas, settings):
        settings.LOGIN_MAX_FAILURES = 3
        for _ in range(2):
            log_in("worker", "not-the-password")
        assert log_in("worker", factories.PASSWORD).status_code == 200

    def test_a_stale_bearer_header_does_not_stop_a_login(self, personas):
        response = bearer("stale-token").post(TOKEN_URL, {"username": "worker", "password": factories.PASSWORD},
                                              format="json")
        assert response.status_code == 200


class TestBearerAuthentication:
    def test_anonymous_gets_401_with_the_scheme_to_use(self, personas):
        response = APIClient().get(JURISDICTIONS_URL)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"

    def test_an_unknown_token_gets_401(self, personas):
        assert bearer("made-up").get(JURISDICTIONS_URL).status_code == 401

    def test_an_expired_token_gets_401(self, personas):
        token, key = ApiToken.issue(personas["worker"], 1)
        assert bearer(key).get(JURISDICTIONS_URL).status_code == 200
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert bearer(key).get(JURISDICTIONS_URL).status_code == 401

    def test_a_deactivated_user_token_gets_401(self, personas):
        _, key = ApiToken.issue(personas["worker"], 1)
        User.objects.filter(pk=personas["worker"].pk).update(is_active=False)
        assert bearer(key).get(JURISDICTIONS_URL).status_code == 401


class TestTokenRevoke:
    def test_delete_revokes_the_token_it_was_sent_with(self, personas):
        token, key = ApiToken.issue(personas["worker"], 1)
        _, other_key = ApiToken.issue(personas["worker"], 1)
        assert bearer(key).delete(TOKEN_URL).status_code == 204
        assert bearer(key).get(JURISDICTIONS_URL).status_code == 401
        assert bearer(other_key).get(JURISDICTIONS_URL).status_code == 200
        assert AuditEntry.objects.filter(action="api_token.revoked", object_id=str(token.pk)).count() == 1

    def test_anonymous_cannot_revoke(self, personas):
        assert APIClient().delete(TOKEN_URL).status_code == 401

    def test_a_session_has_no_token_to_revoke(self, personas):
        client = APIClient()
        client.force_login(personas["worker"])
        response = client.delete(TOKEN_URL)
        assert response.status_code == 400
        assert "non_field_errors" in response.json()


class TestExceptionHandler:
    def test_a_domain_error_is_400_per_field(self):
        response = exception_handler(DomainError(errors={"code": ["bad"], "": ["whole"]}), {})
        assert response.status_code == 400
        assert response.data == {"code": ["bad"], "non_field_errors": ["whole"]}

    def test_a_conflict_is_409(self):
        response = exception_handler(ConflictError("changed meanwhile"), {})
        assert response.status_code == 409
        assert response.data == {"non_field_errors": ["changed meanwhile"]}

    def test_a_model_validation_error_is_400_per_field(self):
        error = DjangoValidationError({"code": ["bad"], NON_FIELD_ERRORS: ["whole"]})
        response = exception_handler(error, {})
        assert response.status_code == 400
        assert response.data == {"code": ["bad"], "non_field_errors": ["whole"]}

    def test_djangos_404_stays_a_404(self):
        assert exception_handler(Http404(), {}).status_code == 404

    def test_other_errors_are_left_to_drf(self):
        assert exception_handler(RuntimeError("boom"), {}) is None


class TestJurisdictionList:
    def test_a_worker_sees_their_own_subtree(self, personas):
        response = api_for(personas["worker"]).get(JURISDICTIONS_URL)
        assert response.status_code == 200
        assert [j["code"] for j in response.json()["results"]] == ["530302001", "530302001001"]

    def test_the_admin_sees_every_jurisdiction(self, personas):
        body = api_for(personas["admin"]).get(JURISDICTIONS_URL).json()
        assert body["count"] == Jurisdiction.objects.count() == 8

    def test_entries_give_the_parent_as_a_code(self, personas):
        body = api_for(personas["leader"]).get(JURISDICTIONS_URL, {"level": "township"}).json()
        assert body["results"][0] == {"code": "530302001", "name": "南宁街道", "level": "township",
                                      "level_label": "Township / street", "parent": "530302"}
        assert [j["code"] for j in body["results"]] == ["530302001", "530302002"]

    def test_it_filters_by_parent(self, personas):
        body = api_for(personas["admin"]).get(JURISDICTIONS_URL, {"parent": "5303"}).json()
        assert [j["code"] for j in body["results"]] == ["530302", "530381"]

    def test_anonymous_gets_401(self, personas):
        assert api_for(None).get(JURISDICTIONS_URL).status_code == 401


def new_jurisdiction(**overrides):
    data = {"code": "530302003", "name": "白石江街道", "level": "township", "parent": "530302"}
    data.update(overrides)
    return data


class TestJurisdictionCreate:
    def test_the_admin_creates_one(self, personas):
        response = api_for(personas["admin"]).post(JURISDICTIONS_URL, new_jurisdiction(), format="json")
        assert response.status_code == 201
        assert response.json()["parent"] == "530302"
        created = Jurisdiction.objects.get(code="530302003")
        assert created.parent_id == "530302"
        assert AuditEntry.objects.filter(action="jurisdiction.created", object_id="530302003",
                                         actor=personas["admin"]).count() == 1

    def test_a_province_needs_no_parent(self, personas):
        response = api_for(personas["admin"]).post(
            JURISDICTIONS_URL, {"code": "52", "name": "贵州省", "level": "province", "parent": None}, format="json")
        assert response.status_code == 201

    def test_a_role_without_manage_jurisdictions_gets_403(self, personas):
        response = api_for(personas["leader"]).post(JURISDICTIONS_URL, new_jurisdiction(), format="json")
        assert response.status_code == 403
        assert not Jurisdiction.objects.filter(code="530302003").exists()
        assert AuditEntry.objects.filter(action="access.denied", actor=personas["leader"]).exists()

    def test_anonymous_gets_401(self, personas):
        assert api_for(None).post(JURISDICTIONS_URL, new_jurisdiction(), format="json").status_code == 401

    def test_the_code_must_start_with_the_parents(self, personas):
        response = api_for(personas["admin"]).post(JURISDICTIONS_URL, new_jurisdiction(code="530381009"),
                                                   format="json")
        assert response.status_code == 400
        assert "530302" in response.json()["code"][0]

    def test_the_code_has_the_levels_number_of_digits(self, personas):
        response = api_for(personas["admin"]).post(JURISDICTIONS_URL, new_jurisdiction(code="5303020031"),
                                                   format="json")
        assert response.status_code == 400
        assert "9 digits" in response.json()["code"][0]

    def test_the_parent_must_be_one_level_up(self, personas):
        response = api_for(personas["admin"]).post(JURISDICTIONS_URL, new_jurisdiction(parent="5303"),
                                                   format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["parent"]

    def test_an_unknown_parent_is_named(self, personas):
        response = api_for(personas["admin"]).post(
            JURISDICTIONS_URL, new_jurisdiction(code="530399001", parent="530399"), format="json")
        assert response.status_code == 400
        assert "530399" in response.json()["parent"][0]

    def test_an_unknown_level_is_refused(self, personas):
        response = api_for(personas["admin"]).post(JURISDICTIONS_URL, new_jurisdiction(level="hamlet"),
                                                   format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["level"]

    def test_an_existing_code_is_refused(self, personas):
        response = api_for(personas["admin"]).post(JURISDICTIONS_URL, new_jurisdiction(code="530302002"),
                                                   format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["code"]
        assert Jurisdiction.objects.get(code="530302002").name == "建宁街道"

    def test_a_county_admin_cannot_create_outside_the_county(self, places):
        county_admin = factories.user("county_admin", "admin", places["county"])
        outside = new_jurisdiction(code="530381002", parent="530381")
        response = api_for(county_admin).post(JURISDICTIONS_URL, outside, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["code"]
        assert not Jurisdiction.objects.filter(code="530381002").exists()
        assert api_for(county_admin).post(JURISDICTIONS_URL, new_jurisdiction(), format="json").status_code == 201

    def test_unknown_fields_are_refused(self, personas):
        response = api_for(personas["admin"]).post(JURISDICTIONS_URL, new_jurisdiction(lvl="township"),
                                                   format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["lvl"]


def new_user(**overrides):
    data = {"username": "newworker", "password": STRONG_PASSWORD, "full_name": "孙专干",
            "role": "community_worker", "jurisdiction": "530302002"}
    data.update(overrides)
    return data


class TestUsers:
    def test_the_admin_creates_a_user_who_can_then_log_in(self, personas):
        response = api_for(personas["admin"]).post(USERS_URL, new_user(), format="json")
        assert response.status_code == 201
        body = response.json()
        assert body["username"] == "newworker"
        assert body["role"] == "community_worker"
        assert body["jurisdiction"] == "530302002"
        assert "password" not in body
        created = User.objects.get(username="newworker")
        assert created.check_password(STRONG_PASSWORD)
        assert created.password_changed_at is not None
        assert AuditEntry.objects.filter(action="user.created", object_id=str(created.pk)).count() == 1
        assert log_in("newworker", STRONG_PASSWORD).status_code == 200

    def test_no_password_or_hash_appears_in_the_list(self, personas):
        response = api_for(personas["admin"]).get(USERS_URL)
        assert response.status_code == 200
        text = response.content.decode()
        assert "password" not in text
        assert personas["worker"].password not in text
        assert response.json()["count"] == User.objects.count()

    @pytest.mark.parametrize("role", ["worker", "leader", "auditor", "job_officer"])
    def test_other_roles_get_403(self, personas, role):
        client = api_for(personas[role])
        assert client.get(USERS_URL).status_code == 403
        assert client.post(USERS_URL, new_user(), format="json").status_code == 403
        assert not User.objects.filter(username="newworker").exists()

    def test_anonymous_gets_401(self, personas):
        assert api_for(None).get(USERS_URL).status_code == 401
        assert api_for(None).post(USERS_URL, new_user(), format="json").status_code == 401

    def test_an_unknown_role_is_refused(self, personas):
        response = api_for(personas["admin"]).post(USERS_URL, new_user(role="superhero"), format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["role"]

    def test_an_unknown_jurisdiction_is_refused(self, personas):
        response = api_for(personas["admin"]).post(USERS_URL, new_user(jurisdiction="539999"), format="json")
        assert response.status_code == 400
        assert "539999" in response.json()["jurisdiction"][0]

    def test_a_weak_password_is_refused_by_the_policy(self, personas):
        response = api_for(personas["admin"]).post(USERS_URL, new_user(password="12345678"), format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["password"]
        assert not User.objects.filter(username="newworker").exists()

    def test_a_taken_username_is_refused(self, personas):
        response = api_for(personas["admin"]).post(USERS_URL, new_user(username="worker"), format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["username"]

    def test_a_county_admin_works_only_inside_the_county(self, places, personas):
        county_admin = factories.user("county_admin", "admin", places["county"])
        factories.user("xuanwei_worker", "community_worker", places["other_township"])
        client = api_for(county_admin)
        listed = {u["username"] for u in client.get(USERS_URL).json()["results"]}
        assert "worker" in listed
        assert "county_admin" in listed
        assert "xuanwei_worker" not in listed
        assert "admin" not in listed  # the admin over every jurisdiction lies outside the county
        outside = client.post(USERS_URL, new_user(jurisdiction="530381001"), format="json")
        assert outside.status_code == 400
        assert list(outside.json()) == ["jurisdiction"]
        everywhere = client.post(USERS_URL, new_user(role="admin", jurisdiction=None), format="json")
        assert everywhere.status_code == 400
        assert list(everywhere.json()) == ["jurisdiction"]

    def test_the_admin_over_everything_may_create_another(self, personas):
        response = api_for(personas["admin"]).post(USERS_URL, new_user(role="admin", jurisdiction=None),
                                                   format="json")
        assert response.status_code == 201
        assert response.json()["jurisdiction"] is None


class TestSchemaDocsAndHealth:
    def test_the_schema_lists_the_person_endpoints(self, db):
        response = APIClient().get("/api/schema/", {"format": "json"})
        assert response.status_code == 200
        paths = response.json()["paths"]
        assert "/api/v1/persons/" in paths
        assert "/api/v1/persons/{id}/" in paths
        assert "/api/v1/auth/token/" in paths
        assert "bearerAuth" in response.json()["components"]["securitySchemes"]

    def test_the_docs_use_only_local_static_files(self, db):
        response = APIClient().get("/api/docs/")
        assert response.status_code == 200
        html = response.content.decode()
        assert "swagger-ui" in html
        external = [url for url in re.findall(r"https?://[^\s\"'<>]+", html)
                    if not url.startswith(("http://testserver/", "https://testserver/"))]
        assert external == []

    def test_healthz_answers_without_login(self, db):
        response = APIClient().get("/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["database"] == "ok"
