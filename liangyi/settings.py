"""Settings for liangyi: one module, configured by the environment.

With no environment set the app runs as a local demo on an embedded SQLite database, with
demo secrets, and says so on every page. ``LIANGYI_ENV=production`` refuses demo secrets.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

from liangyi.core import retention as _retention
from liangyi.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LIANGYI_VAR_DIR", str(BASE_DIR / "var")))

ENVIRONMENT = env_str("LIANGYI_ENV", "demo")  # demo | production
PRODUCTION = ENVIRONMENT == "production"

_secret = env_str("LIANGYI_SECRET_KEY")
_field_key = env_str("LIANGYI_FIELD_KEY")
# Demo mode: no secrets were given. Pages show a banner; production refuses to start.
DEMO_MODE = not (_secret and _field_key)
if PRODUCTION and DEMO_MODE:
    raise RuntimeError("LIANGYI_ENV=production needs LIANGYI_SECRET_KEY and LIANGYI_FIELD_KEY to be set.")
SECRET_KEY = _secret or "liangyi-local-demo-only-" + hashlib.sha256(str(BASE_DIR).encode()).hexdigest()
# 32 hex digits = 16 bytes (SM4) or 64 hex digits = 32 bytes (AES-256); see core/crypto.py.
FIELD_KEY = _field_key or hashlib.sha256(b"liangyi demo field key").hexdigest()[:32]
FIELD_CIPHER = env_str("LIANGYI_FIELD_CIPHER", "sm4-gcm")  # sm4-gcm | aes-gcm

DEBUG = env_bool("LIANGYI_DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("LIANGYI_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])


def _field_key_problem(key: str, cipher: str) -> str:
    """Why a field key (hex) or cipher name cannot be used, or "" (core/crypto.py reads them)."""
    try:
        raw = bytes.fromhex(key)
    except ValueError:
        return "LIANGYI_FIELD_KEY must be hexadecimal: 32 hex digits (16 bytes) or 64 (32 bytes)."
    if len(raw) not in (16, 32):
        return "LIANGYI_FIELD_KEY must be 32 hex digits (16 bytes) or 64 (32 bytes)."
    if len(set(raw)) < 4:
        return "LIANGYI_FIELD_KEY is not random (the same few bytes over and over): generate one."
    if cipher.lower() not in ("sm4-gcm", "aes-gcm"):
        return "LIANGYI_FIELD_CIPHER must be sm4-gcm or aes-gcm."
    return ""


# Production refuses to start with settings that expose internals or accept any host, and with a
# field key core/crypto.py would refuse at the first encrypted value (issue 15; docs/deploy.md).
if PRODUCTION:
    if DEBUG:
        raise RuntimeError("LIANGYI_ENV=production refuses LIANGYI_DEBUG: unset it (debug pages show internals).")
    if not ALLOWED_HOSTS or any(host.strip() in ("*", ".") for host in ALLOWED_HOSTS):
        raise RuntimeError("LIANGYI_ENV=production needs LIANGYI_ALLOWED_HOSTS to name the site's host names, "
                           "not '*'.")
    if problem := _field_key_problem(FIELD_KEY, FIELD_CIPHER):
        raise RuntimeError(problem)
CSRF_TRUSTED_ORIGINS = env_list("LIANGYI_CSRF_TRUSTED_ORIGINS", [])
# Proxies (addresses or networks) whose X-Forwarded-For is believed for the audit trail's client
# address and the per-address rate limits; a request from anywhere else is recorded with its own
# address (docs/scale.md). None by default, not even loopback: any local process (or the app served
# without its nginx) could otherwise pick the address it is counted and audited under. The nginx of
# docs/deploy.md is listed in deploy/env.example.
TRUSTED_PROXIES = env_list("LIANGYI_TRUSTED_PROXIES", [])

INSTALLED_APPS = [
    "liangyi.core",  # first, so its createsuperuser (role admin) wins over django.contrib.auth's
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "liangyi.people",
    "liangyi.obligations",
    "liangyi.supervision",
    "liangyi.handover",
    "liangyi.reconcile",
    "liangyi.risk",
    "liangyi.medical",
    "liangyi.ops",
    "liangyi.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "liangyi.core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "liangyi.core.middleware.NoStoreMiddleware",
    "liangyi.core.middleware.SessionSeenMiddleware",
]

ROOT_URLCONF = "liangyi.urls"
WSGI_APPLICATION = "liangyi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "liangyi" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "liangyi.core.context_processors.liangyi",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'liangyi.sqlite3'}"),
        conn_max_age=env_int("LIANGYI_DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;"
    )
# A read replica (streaming replication) for reports and figures: only code that asks for it
# (liangyi.ops.db_router.replica()) reads there; everything else reads its own writes.
if env_str("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(env_str("DATABASE_REPLICA_URL"),
                                                 conn_max_age=env_int("LIANGYI_DB_CONN_MAX_AGE", 60))
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["liangyi.ops.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = ["liangyi.core.auth.LockoutModelBackend"]
LOGIN_URL = "core:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:login"

# Password policy profile: "asvs" (length, no composition rules) or "level3" (graded protection
# level 3: composition rules too). See docs/security.md.
PASSWORD_PROFILE = env_str("LIANGYI_PASSWORD_PROFILE", "asvs")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if PASSWORD_PROFILE == "level3":  # noqa: S105 (a profile name, not a password)
    AUTH_PASSWORD_VALIDATORS.append({"NAME": "liangyi.core.auth.CompositionValidator"})

# Login lockout and session idle timeout (graded protection level 3: login-failure handling,
# session timeout).
LOGIN_MAX_FAILURES = env_int("LIANGYI_LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LIANGYI_LOGIN_LOCKOUT_MINUTES", 15)
SESSION_COOKIE_AGE = env_int("LIANGYI_IDLE_TIMEOUT_SECONDS", 30 * 60)
SESSION_SAVE_EVERY_REQUEST = True  # the age is an idle timeout: each request restarts it
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
API_TOKEN_HOURS = env_int("LIANGYI_API_TOKEN_HOURS", 12)
# Revealing a masked value and exporting a file ask for a recent proof of identity: the login, or
# the password (and code) typed again on /account/confirm/ or POST /api/v1/auth/reauth/, within
# this many minutes (core/reauth.py, docs/security.md). A technical setting, not a rule of law.
REAUTH_MINUTES = env_int("LIANGYI_REAUTH_MINUTES", 15)
# Per-address limits of failed attempts (core/ratelimit.py): the login steps and the API token
# share one counter, re-authentication has its own. 0 turns a limit off. The address is the
# client's as core.audit.client_ip sees it (X-Forwarded-For only from TRUSTED_PROXIES).
LOGIN_RATE_LIMIT = env_int("LIANGYI_LOGIN_RATE_LIMIT", 20)
LOGIN_RATE_WINDOW_SECONDS = env_int("LIANGYI_LOGIN_RATE_WINDOW_SECONDS", 300)
REAUTH_RATE_LIMIT = env_int("LIANGYI_REAUTH_RATE_LIMIT", 10)
REAUTH_RATE_WINDOW_SECONDS = env_int("LIANGYI_REAUTH_RATE_WINDOW_SECONDS", 300)
# Second factor (TOTP) for every role that sees personal data or administers (core/twofactor.py).
# Off only in the local demo (no secrets given) so that `make run` logs in with a password;
# production refuses to start with it off. An account that has enrolled always uses it.
TWO_FACTOR_REQUIRED = env_bool("LIANGYI_2FA_REQUIRED", not DEMO_MODE)
if PRODUCTION and not TWO_FACTOR_REQUIRED:
    raise RuntimeError("LIANGYI_ENV=production needs the second factor: unset LIANGYI_2FA_REQUIRED.")

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
}
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("LIANGYI_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("LIANGYI_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The browsers' HSTS preload list is for public domains; sites on closed government networks
    # cannot be submitted to it, so preloading is opt-in and its deploy-check warning is expected.
    SECURE_HSTS_PRELOAD = env_bool("LIANGYI_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "liangyi" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "liangyi" / "static"]
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG  # in development the app's folders are served directly
if not STATIC_ROOT.exists() and not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it; collectstatic fills it

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "liangyi.core.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: DRF's browsable HTML forms would show write serializers (and so fields a role
    # may not see). The browsable documentation is /api/docs/.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "liangyi.core.pagination.StrictLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "liangyi.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "liangyi API",
    "DESCRIPTION": "REST API v1 of liangyi (两翼). See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several choice sets share a field name ("kind", "reason"): name each one after what it is.
    "ENUM_NAME_OVERRIDES": {
        "OrderKindEnum": "liangyi.supervision.models.OrderKind",
        "ContactKindEnum": "liangyi.supervision.models.ContactKind",
        "SuspensionReasonEnum": "liangyi.supervision.models.SuspensionReason",
    },
}

# Background work (Django's tasks API). The embedded default runs each task at once, in
# process, after the transaction commits; with REDIS_URL tasks go to Redis and the worker
# (manage.py ops_worker) runs them. Daily jobs are queued by manage.py ops_scheduler at
# LIANGYI_JOBS_DAILY_AT (local time). See docs/scale.md.
REDIS_URL = env_str("REDIS_URL")
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
                     "QUEUES": ["default", "imports"]}}
if REDIS_URL:
    TASKS = {"default": {"BACKEND": "liangyi.ops.backends.RQBackend", "QUEUES": ["default", "imports"],
                         "OPTIONS": {"URL": REDIS_URL}}}
OPS_JOBS_DAILY_AT = env_str("LIANGYI_JOBS_DAILY_AT", "01:30")

# The cache holds the rate limits' counters. Embedded default: each web process counts on its own
# (so an address gets up to the limit per worker); with REDIS_URL every process shares one count.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "liangyi"}}
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "liangyi"}}

# The active rule set (liangyi/rules/<name>.toml, with an optional province override).
RULESET = env_str("LIANGYI_RULESET", "national")
RULESET_OVERRIDE = env_str("LIANGYI_RULESET_OVERRIDE", "")

# With LIANGYI_LOG_DIR set, also a daily-rotated liangyi.log whose rotated files are kept for the rule
# set's log_retention_months (网络安全法 第二十一条: at least six months); see docs/security.md.
LOGGING = _retention.logging_config({
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LIANGYI_LOG_LEVEL", "WARNING")},
}, log_dir=env_str("LIANGYI_LOG_DIR", ""), ruleset=RULESET, override=RULESET_OVERRIDE)
