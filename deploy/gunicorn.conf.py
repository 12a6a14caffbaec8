"""Gunicorn settings for liangyi: `gunicorn -c deploy/gunicorn.conf.py liangyi.wsgi`.

gunicorn is not yet in pyproject.toml's dependencies; until it is, install it into the venv
(`.venv/bin/pip install gunicorn`). Every value can be overridden from the environment below.
"""

import multiprocessing
import os

# nginx on the same host proxies to this address (deploy/nginx/liangyi.conf). Keep it on the
# loopback: the app must never be reachable without the TLS proxy in front.
bind = os.environ.get("LIANGYI_BIND", "127.0.0.1:8000")

# Synchronous workers, the usual 2 x CPU + 1, capped so the database's connection budget holds:
# each worker keeps one PostgreSQL connection open (LIANGYI_DB_CONN_MAX_AGE, default 60 s).
workers = int(os.environ.get("LIANGYI_WEB_WORKERS", min(multiprocessing.cpu_count() * 2 + 1, 17)))
worker_class = "sync"
# Reports and spreadsheet imports are the slowest requests; nginx waits a little longer (75 s).
timeout = int(os.environ.get("LIANGYI_WEB_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = 2000
max_requests_jitter = 200

# Logs to stdout/stderr: journald (systemd) or the container runtime collects them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LIANGYI_WEB_LOG_LEVEL", "info").lower()
# The path without the query string: search terms (names, ID numbers) must not reach the logs.
# X-Forwarded-For (set by nginx) is the client's address; %(h)s is nginx's.
access_log_format = '%({x-forwarded-for}i)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

# Trust X-Forwarded-Proto (and the other forwarded headers) only from nginx on this host.
# (compose.yaml sets the nginx container's fixed address instead.) Never "*".
forwarded_allow_ips = os.environ.get("LIANGYI_FORWARDED_ALLOW_IPS", "127.0.0.1")
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# Request limits: gunicorn's defaults, written out; upload size is limited by nginx (25 MB).
limit_request_line = 4094
limit_request_fields = 100
