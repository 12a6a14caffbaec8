"""The rate limits' counters live in the cache, which outlives a test: each test starts with none,
so that one test's failed logins do not refuse another's (all come from 127.0.0.1)."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()
