"""The administration pages (jurisdictions, users) and `manage.py createsuperuser`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from liangyi.conftest import client_for
from liangyi.core.models import AuditEntry, Jurisdiction, Role, User
from liangyi.demo import factories
from liangyi.people.models import Person

GOOD_PASSWORD = "Quiet-Harbour-Lantern-7"


@pytest.fixture
def county_admin(places):
    """An administrator of the Qilin district only."""
    return factories.user("county_admin", "admin", places["county"], full_name="区管理员")


def en(client: Client, method: str, url: str, data=None):
    """A request in English (the language switch's cookie), so assertions can read the text."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return getattr(client, method)(url, data or {})


class TestJurisdictionsPage:
    url = "/manage/jurisdictions/"

    def test_the_route(self):
        assert reverse("core:jurisdictions") == self.url

    def test_the_admin_sees_the_tree(self, personas, places):
        response = client_for(personas["admin"]).get(self.url)
        assert response.status_code == 200
        codes = [j.code for j, _indent in response.context["rows"]]
        assert codes == sorted(j.code for j in places.values())

    def test_a_county_admin_sees_only_the_county(self, county_admin, places):
        response = client_for(county_admin).get(self.url)
        codes = {j.code for j, _indent in response.context["rows"]}
        assert codes == {"530302", "530302001", "530302002", "530302001001"}

    def test_villages_are_indented_under_townships(self, personas, places):
        rows = dict(client_for(personas["admin"]).get(self.url).context["rows"])
        assert len(rows[places["village"]]) == len(rows[places["township"]]) + 1

    def test_adding_a_township(self, county_admin, places):
        response = client_for(county_admin).post(self.url, {
            "code": "530302003", "name": "白石江街道", "level": "township", "parent": "530302"})
        assert response.status_code == 302
        created = Jurisdiction.objects.get(code="530302003")
        assert created.parent == places["county"]
        entry = AuditEntry.objects.get(action="jurisdiction.created")
        assert entry.actor == county_admin
        assert entry.object_id == "530302003"

    @pytest.mark.parametrize(("data", "field"), [
        ({"code": "53030200", "name": "x", "level": "township", "parent": "530302"}, "code"),      # 8 digits
        ({"code": "530303001", "name": "x", "level": "township", "parent": "530302"}, "code"),     # not under parent
        ({"code": "530302003", "name": "x", "level": "township", "parent": "5303"}, "parent"),     # city parent
        ({"code": "530302001", "name": "x", "level": "township", "parent": "530302"}, "code"),     # exists
        ({"code": "530302003", "name": "x", "level": "hamlet", "parent": "530302"}, "level"),      # no such level
        ({"code": "530302003", "name": "", "level": "township", "parent": "530302"}, "name"),
    ])
    def test_invalid_input_is_refused_and_kept(self, personas, data, field):
        response = en(client_for(personas["admin"]), "post", self.url, data)
        assert response.status_code == 400
        assert field in response.context["form"].errors
        assert response.context["form"]["name"].value() == data["name"]
        assert not AuditEntry.objects.filter(action="jurisdiction.created").exists()

    def test_a_county_admin_cannot_add_outside_the_county(self, county_admin, places):
        client = client_for(county_admin)
        # Xuanwei is not in the choices, and a code outside the county is refused.
        response = client.post(self.url, {"code": "530381002", "name": "x", "level": "township",
                                          "parent": "530381"})
        assert response.status_code == 400
        assert "parent" in response.context["form"].errors
        response = client.post(self.url, {"code": "54", "name": "西藏", "level": "province", "parent": ""})
        assert response.status_code == 400
        assert "code" in response.context["form"].errors
        assert not Jurisdiction.objects.filter(code__in=["530381002", "54"]).exists()

    def test_the_admin_over_everything_adds_a_province(self, personas):
        response = client_for(personas["admin"]).post(self.url, {"code": "11", "name": "北京市",
                                                                 "level": "province", "parent": ""})
        assert response.status_code == 302
        assert Jurisdiction.objects.get(code="11").parent is None

    @pytest.mark.parametrize("persona", ["worker", "leader", "auditor", "police"])
    def test_other_roles_get_403(self, personas, persona):
        client = client_for(personas[persona])
        assert client.get(self.url).status_code == 403
        assert client.post(self.url, {"code": "530302003", "name": "x", "level": "township",
                                      "parent": "530302"}).status_code == 403
        assert not Jurisdiction.objects.filter(code="530302003").exists()

    def test_anonymous_is_sent_to_log_in(self, db):
        response = Client().get(self.url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("core:login"))


class TestUsersPage:
    url = "/manage/users/"

    def test_the_routes(self):
        assert reverse("core:users") == self.url
        assert reverse("core:user_create") == "/manage/users/new/"

    def test_the_admin_lists_every_user_with_role_and_place(self, personas):
        response = en(client_for(personas["admin"]), "get", self.url)
        assert response.status_code == 200
        listed = {u.username for u in response.context["page"].object_list}
        assert listed == set(User.objects.values_list("username", flat=True))
        text = response.content.decode()
        assert "Community rehab worker" in text
        assert "南宁街道" in text

    def test_a_county_admin_lists_only_users_of_the_county(self, personas, county_admin):
        response = client_for(county_admin).get(self.url)
        listed = {u.username for u in response.context["page"].object_list}
        assert listed == {"worker", "colleague", "neighbour", "leader", "health", "job_officer", "police",
                          "county_admin"}

    def test_a_locked_account_shows_until_when(self, personas):
        worker = personas["worker"]
        worker.locked_until = timezone.now() + timedelta(minutes=10)
        worker.save(update_fields=["locked_until"])
        text = client_for(personas["admin"]).get(self.url).content.decode()
        from zoneinfo import ZoneInfo

        assert worker.locked_until.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M") in text
        assert 'value="unlock"' in text

    def test_the_query_count_does_not_grow_with_the_users(self, personas, places):
        client = client_for(personas["admin"])
        client.get(self.url)
        with CaptureQueriesContext(connection) as few:
            client.get(self.url)
        for i in range(20):
            factories.user(f"extra{i}", "social_worker", places["neighbour"])
        with CaptureQueriesContext(connection) as many:
            client.get(self.url)
        assert len(many) == len(few)

    def test_deactivating_a_user(self, personas):
        response = client_for(personas["admin"]).post(self.url, {"action": "deactivate",
                                                                 "user": personas["worker"].pk})
        assert response.status_code == 302
        personas["worker"].refresh_from_db()
        assert not personas["worker"].is_active
        entry = AuditEntry.objects.get(action="user.deactivated")
        assert entry.actor == personas["admin"]
        assert entry.object_id == str(personas["worker"].pk)
        # The deactivated user's session ends.
        assert client_for(personas["worker"]).get(reverse("people:list")).status_code == 302

    def test_deactivating_a_user_revokes_their_api_tokens(self, personas):
        from liangyi.core.models import ApiToken

        token, _key = ApiToken.issue(personas["worker"], 8)
        client_for(personas["admin"]).post(self.url, {"action": "deactivate", "user": personas["worker"].pk})
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert AuditEntry.objects.get(action="user.deactivated").detail["tokens_revoked"] == 1

    def test_reactivating_a_user(self, personas):
        worker = personas["worker"]
        worker.is_active = False
        worker.save(update_fields=["is_active"])
        client_for(personas["admin"]).post(self.url, {"action": "activate", "user": worker.pk})
        worker.refresh_from_db()
        assert worker.is_active
        assert AuditEntry.objects.filter(action="user.activated").count() == 1

    def test_unlocking_a_user(self, personas):
        worker = personas["worker"]
        worker.locked_until = timezone.now() + timedelta(minutes=10)
        worker.failed_logins = 3
        worker.save(update_fields=["locked_until", "failed_logins"])
        response = client_for(personas["admin"]).post(self.url, {"action": "unlock", "user": worker.pk})
        assert response.status_code == 302
        worker.refresh_from_db()
        assert not worker.is_locked()
        assert worker.failed_logins == 0
        assert AuditEntry.objects.get(action="user.unlocked").object_id == str(worker.pk)
        response = Client().post(reverse("core:login"), {"username": "worker", "password": factories.PASSWORD})
        assert response.status_code == 302

    def test_an_admin_cannot_deactivate_themselves(self, personas):
        admin = personas["admin"]
        response = client_for(admin).post(self.url, {"action": "deactivate", "user": admin.pk})
        assert response.status_code == 400
        admin.refresh_from_db()
        assert admin.is_active

    def test_a_county_admin_cannot_touch_a_user_outside(self, personas, county_admin, places):
        outsider = factories.user("xw_worker", "community_worker", places["other_township"])
        for target in (outsider, personas["admin"], personas["auditor"]):
            response = client_for(county_admin).post(self.url, {"action": "deactivate", "user": target.pk})
            assert response.status_code == 404
            target.refresh_from_db()
            assert target.is_active
        assert AuditEntry.objects.filter(action="access.denied", actor=county_admin).count() == 3

    def test_a_nonsense_action_is_refused(self, personas):
        response = client_for(personas["admin"]).post(self.url, {"action": "delete", "user": personas["worker"].pk})
        assert response.status_code == 400
        assert User.objects.filter(pk=personas["worker"].pk, is_active=True).exists()

    @pytest.mark.parametrize("persona", ["worker", "leader", "auditor", "health"])
    def test_other_roles_get_403(self, personas, persona):
        client = client_for(personas[persona])
        assert client.get(self.url).status_code == 403
        assert client.post(self.url, {"action": "deactivate", "user": personas["colleague"].pk}).status_code == 403
        assert client.get(reverse("core:user_create")).status_code == 403
        assert User.objects.get(pk=personas["colleague"].pk).is_active

    def test_anonymous_is_sent_to_log_in(self, db):
        for url in (self.url, reverse("core:user_create")):
            response = Client().get(url)
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("core:login"))


class TestUserCreatePage:
    url = "/manage/users/new/"

    def data(self, **overrides):
        base = {"username": "newworker", "full_name": "孙专干", "role": "community_worker",
                "jurisdiction": "530302002", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
        base.update(overrides)
        return base

    def test_the_form_is_shown(self, personas):
        response = client_for(personas["admin"]).get(self.url)
        assert response.status_code == 200
        assert b'name="password1"' in response.content

    def test_creating_a_user(self, personas):
        response = client_for(personas["admin"]).post(self.url, self.data())
        assert response.status_code == 302
        user = User.objects.get(username="newworker")
        assert (user.role, user.jurisdiction_id, user.full_name) == ("community_worker", "530302002", "孙专干")
        assert user.check_password(GOOD_PASSWORD)
        assert user.password_changed_at is not None
        entry = AuditEntry.objects.get(action="user.created")
        assert entry.actor == personas["admin"]
        assert entry.detail["role"] == "community_worker"
        assert GOOD_PASSWORD not in str(entry.detail)
        assert Client().post(reverse("core:login"), {"username": "newworker",
                                                     "password": GOOD_PASSWORD}).status_code == 302

    @pytest.mark.parametrize(("overrides", "field"), [
        ({"password1": "short", "password2": "short"}, "password1"),
        ({"password1": "12345678901234", "password2": "12345678901234"}, "password1"),   # numeric
        ({"password1": "newworker2026", "password2": "newworker2026"}, "password1"),  # like the username
        ({"password2": GOOD_PASSWORD + "x"}, "password2"),
        ({"username": "worker"}, "username"),
        ({"role": "superhero"}, "role"),
        ({"jurisdiction": ""}, "jurisdiction"),   # only an admin may have every jurisdiction
        ({"full_name": ""}, "full_name"),
    ])
    def test_invalid_input_is_refused_and_kept(self, personas, overrides, field):
        data = self.data(**overrides)
        response = en(client_for(personas["admin"]), "post", self.url, data)
        assert response.status_code == 400
        assert field in response.context["form"].errors, response.context["form"].errors
        assert response.context["form"]["username"].value() == data["username"]
        assert not AuditEntry.objects.filter(action="user.created").exists()

    def test_an_admin_over_everything_may_create_another(self, personas):
        response = client_for(personas["admin"]).post(self.url, self.data(role="admin", jurisdiction=""))
        assert response.status_code == 302
        assert User.objects.get(username="newworker").jurisdiction is None

    def test_a_county_admin_creates_only_inside_the_county(self, county_admin):
        client = client_for(county_admin)
        assert client.post(self.url, self.data(jurisdiction="530381001")).status_code == 400
        assert client.post(self.url, self.data(role="admin", jurisdiction="")).status_code == 400
        assert not User.objects.filter(username="newworker").exists()
        assert client.post(self.url, self.data()).status_code == 302

    def test_the_choices_are_the_admins_subtree(self, county_admin):
        form = client_for(county_admin).get(self.url).context["form"]
        codes = {j.code for j in form.fields["jurisdiction"].queryset}
        assert codes == {"530302", "530302001", "530302002", "530302001001"}


class TestCreateSuperuser:
    def test_our_command_is_the_one_that_runs(self):
        from django.core.management import get_commands

        assert get_commands()["createsuperuser"] == "liangyi.core", (
            "manage.py createsuperuser runs Django's own command (role community_worker): Django takes a "
            "command from the app listed first, so list 'liangyi.core' before 'django.contrib.auth' in "
            "settings.INSTALLED_APPS")

    def test_it_makes_an_admin_over_every_jurisdiction(self, db, monkeypatch):
        monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", GOOD_PASSWORD)
        call_command("createsuperuser", interactive=False, username="root", email="root@example.org", verbosity=0)
        user = User.objects.get(username="root")
        assert user.is_superuser
        assert user.role == Role.ADMIN
        assert user.jurisdiction is None
        assert user.check_password(GOOD_PASSWORD)
        assert AuditEntry.objects.get(action="user.created").detail["via"] == "createsuperuser"

    def test_the_new_admin_reaches_every_person(self, places, monkeypatch):
        monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", GOOD_PASSWORD)
        factories.user("existing", "community_worker", places["township"])
        far = factories.person(places["other_township"])
        call_command("createsuperuser", interactive=False, username="root", email="root@example.org", verbosity=0)
        from liangyi.core import access

        root = User.objects.get(username="root")
        assert access.can(root, "manage_users")
        assert far in access.visible(root, Person)
        # Users that existed before keep their role.
        assert User.objects.get(username="existing").role == "community_worker"
