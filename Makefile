# Everyday commands. `make run` serves the demo city; `make test` runs the whole suite.
# Both set everything up first on a fresh machine.

VENV     := .venv
PY       := $(VENV)/bin/python
MANAGE   := $(PY) manage.py
HOST     ?= 127.0.0.1
PORT     ?= 8000
PG_URL   ?= postgres://postgres@127.0.0.1:5432/liangyi

.PHONY: run test test-pg lint audit-deps setup system-deps messages migrate demo bench clean help backup restore

help:
	@echo "make run      set up, migrate, load the demo city if empty, serve on http://$(HOST):$(PORT)"
	@echo "make test     set up and run lint, migration check and the whole test suite (SQLite)"
	@echo "make test-pg  the same suite against PostgreSQL ($(PG_URL))"
	@echo "make bench    run the benchmarks in bench/"
	@echo "make audit-deps  check the installed packages for known vulnerabilities (pip-audit; needs the network)"

# --- setup -------------------------------------------------------------------------------
$(VENV)/.installed: pyproject.toml
	@PYBIN=$$(scripts/find-python) && echo "Using $$PYBIN" && \
	  ( [ -x $(PY) ] || $$PYBIN -m venv $(VENV) )
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# Debian packages: Chromium and CJK fonts for the browser tests and screenshots, gettext for
# the translations. Installed once; skipped when already present.
var/.system-deps: scripts/system-deps
	@mkdir -p var
	scripts/system-deps
	@touch $@

system-deps: var/.system-deps

liangyi/locale/%/LC_MESSAGES/django.mo: liangyi/locale/%/LC_MESSAGES/django.po
	msgfmt --check -o $@ $<

messages: var/.system-deps $(patsubst %.po,%.mo,$(wildcard liangyi/locale/*/LC_MESSAGES/django.po))

setup: $(VENV)/.installed var/.system-deps messages

migrate: setup
	$(MANAGE) migrate --noinput

# --- everyday ----------------------------------------------------------------------------
run: migrate
	$(MANAGE) seed_demo --if-empty
	$(MANAGE) demo_logins
	$(MANAGE) runserver $(HOST):$(PORT)

# Not part of `make test`: it asks the vulnerability database online (docs/security.md).
audit-deps: setup
	$(VENV)/bin/pip-audit --skip-editable --strict --progress-spinner off  # --strict: a package it cannot check fails

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/bandit -r liangyi -q -ll -x '*/tests/*,liangyi/conftest.py'  # medium and high findings fail
	$(MANAGE) makemigrations --check --dry-run
	$(VENV)/bin/lint-imports  # the layers of docs/architecture.md, function-local imports included

test: lint
	scripts/ensure-redis
	$(VENV)/bin/pytest

test-pg: setup
	scripts/ensure-postgres $(PG_URL)
	scripts/ensure-redis
	DATABASE_URL=$(PG_URL) $(VENV)/bin/pytest

# `make bench`: the quick scale (20 000 persons); `make bench BENCH_SCALE=province`: the issue's
# (300 000 persons, 30 000 000 events; the first build takes about half an hour, then it is reused).
BENCH_SCALE ?= quick
bench: setup
	scripts/ensure-postgres
	@ls bench/bench_*.py >/dev/null 2>&1 || { echo "no benchmarks yet in bench/"; exit 0; }
	@for b in bench/bench_*.py; do echo "== $$b"; BENCH_SCALE=$(BENCH_SCALE) $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var/.system-deps

# --- backups (docs/deploy.md) ------------------------------------------------------------
# `make backup`: encrypted dump of the configured database into var/backups/.
# `make restore FILE=var/backups/liangyi-....enc [INTO=postgres://...]`: into an EMPTY database.
backup:
	scripts/backup

restore:
	@test -n "$(FILE)" || { echo "usage: make restore FILE=var/backups/liangyi-<time>.<pg|sqlite>.enc [INTO=DATABASE_URL]" >&2; exit 2; }
	scripts/restore "$(FILE)" $(if $(INTO),--into "$(INTO)")
