"""Production settings pass Django's deployment checklist (manage.py check --deploy)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from liangyi.conftest import client_for
from liangyi.core.models import ApiToken


def clean_env(extra_env: dict[str, str]) -> dict[str, str]:
    # A clean environment: no LIANGYI_ settings, and not the browser tests' async override.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANGYI_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.pop("DATABASE_URL", None)
    env.update(extra_env)
    return env


def run_python(code: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    """``code`` run after django.setup() in a fresh interpreter with only ``extra_env`` set."""
    env = clean_env({"DJANGO_SETTINGS_MODULE": "liangyi.settings", **extra_env})
    return subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", "import django; django.setup(); " + code],
        capture_output=True, text=True, env=env, timeout=120, cwd=str(settings.BASE_DIR),
    )


def run_check(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = clean_env(extra_env)
    return subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True, text=True, env=env, timeout=120,
    )


def production_env() -> dict[str, str]:
    return {
        "LIANGYI_ENV": "production",
        "LIANGYI_SECRET_KEY": secrets.token_urlsafe(50),
        "LIANGYI_FIELD_KEY": secrets.token_hex(16),
        "LIANGYI_ALLOWED_HOSTS": "liangyi.example.gov.cn",
    }


def test_production_settings_pass_the_deployment_checklist():
    result = run_check(production_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_its_secrets():
    result = run_check({"LIANGYI_ENV": "production"})
    assert result.returncode != 0
    assert "LIANGYI_SECRET_KEY" in result.stderr


class TestProductionRefuses:
    """Issue 15 item 17: production does not start with debug on, any host, or an unusable field key."""

    @pytest.mark.parametrize(("env", "named"), [
        ({"LIANGYI_DEBUG": "1"}, "LIANGYI_DEBUG"),
        ({"LIANGYI_ALLOWED_HOSTS": "*"}, "LIANGYI_ALLOWED_HOSTS"),
        ({"LIANGYI_ALLOWED_HOSTS": "liangyi.example.gov.cn,*"}, "LIANGYI_ALLOWED_HOSTS"),
        ({"LIANGYI_FIELD_KEY": "not-hexadecimal-at-all-not-hexadecimal-at"}, "LIANGYI_FIELD_KEY"),
        ({"LIANGYI_FIELD_KEY": "ab" * 10}, "LIANGYI_FIELD_KEY"),
        ({"LIANGYI_FIELD_KEY": "00" * 16}, "LIANGYI_FIELD_KEY"),
        ({"LIANGYI_FIELD_CIPHER": "des"}, "LIANGYI_FIELD_CIPHER"),
    ])
    def test_it_refuses(self, env, named):
        result = run_check({**production_env(), **env})
        assert result.returncode != 0
        assert named in result.stderr

    def test_an_aes_key_of_64_hex_digits_is_accepted(self):
        result = run_check({**production_env(), "LIANGYI_FIELD_KEY": secrets.token_hex(32),
                            "LIANGYI_FIELD_CIPHER": "aes-gcm"})
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
class TestTheSchemaInProduction:
    """Issue 15 item 17: the API's schema and documentation need a login in production."""

    @pytest.fixture(autouse=True)
    def production(self, settings):
        settings.PRODUCTION = True

    def test_anonymous_gets_no_schema(self):
        response = APIClient().get("/api/schema/", {"format": "json"})
        assert response.status_code in (401, 403)
        assert "paths" not in response.content.decode()

    def test_anonymous_is_sent_to_log_in_from_the_docs(self):
        response = Client().get("/api/docs/")
        assert response.status_code == 302 and response.url.startswith(reverse("core:login"))

    def test_a_logged_in_user_gets_both(self, personas):
        client = client_for(personas["worker"])
        assert client.get("/api/schema/", {"format": "json"}).status_code == 200
        assert client.get("/api/docs/").status_code == 200

    def test_a_bearer_token_gets_the_schema(self, personas):
        _token, key = ApiToken.issue(personas["worker"], 1)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        assert "/api/v1/persons/" in client.get("/api/schema/", {"format": "json"}).json()["paths"]
