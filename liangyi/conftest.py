"""Standard personas and places, shared by every app's tests (STYLE.md)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation
from hypothesis import settings as hypothesis_settings

from liangyi import settings as project_settings
from liangyi.demo import factories
from liangyi.people.models import Person

# Property tests check correctness, not speed (benchmarks live in bench/): a slow shared CI
# machine must not turn a correct example into a "deadline exceeded" failure.
hypothesis_settings.register_profile("liangyi", deadline=None)
hypothesis_settings.load_profile("liangyi")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2 at Django 6's work factor takes about a second a hash; tests need no such cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def english_by_default(settings):
    """Tests read the English messages. Tests of the Chinese default ask for ``project_language``."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def project_language(settings) -> str:
    """The interface language as the project configures it (zh-Hans), for pages and messages."""
    settings.LANGUAGE_CODE = project_settings.LANGUAGE_CODE
    translation.activate(project_settings.LANGUAGE_CODE)
    return project_settings.LANGUAGE_CODE


@pytest.fixture
def places(db):
    return factories.small_tree()


@pytest.fixture
def personas(places):
    """A township worker, a colleague, a neighbouring worker, a county leader, a health worker,
    a job officer, a police officer, an admin, an auditor; `anonymous` is None."""
    t, n, c = places["township"], places["neighbour"], places["county"]
    return {
        "worker": factories.user("worker", "community_worker", t, full_name="张专干"),
        "colleague": factories.user("colleague", "community_worker", t, full_name="李专干"),
        "neighbour": factories.user("neighbour", "community_worker", n, full_name="赵专干"),
        "leader": factories.user("leader", "leader", c, full_name="王主任"),
        "health": factories.user("health", "health", t, full_name="刘医生"),
        "job_officer": factories.user("job_officer", "hr", t, full_name="陈科员"),
        "police": factories.user("police", "police", t, full_name="周警官"),
        "admin": factories.user("admin", "admin", None, full_name="管理员"),
        "auditor": factories.user("auditor", "auditor", places["province"], full_name="审计员"),
        "anonymous": None,
    }


@pytest.fixture
def person(places) -> Person:
    """A person in the township, with every sensitive field filled."""
    return factories.person(
        places["township"], name="王建国", phone="13812345678", household_address="南宁街道幸福路1号",
        residence_address="南宁街道幸福路1号", infectious_disease="HIV阳性", health_notes="乙肝携带",
        police_notes="曾有贩毒前科", substances=["海洛因"], first_use_year=2005, manner_of_use="injecting",
    )


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def client_as():
    return client_for
