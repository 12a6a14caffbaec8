"""Production settings pass Django's deployment checklist (manage.py check --deploy)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings


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
