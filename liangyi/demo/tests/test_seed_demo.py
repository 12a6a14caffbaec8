"""The demo city: deterministic, valid, shaped like the Qujing survey; the commands that load and show it."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from liangyi.core import audit, idnumber
from liangyi.core.models import AuditEntry, Jurisdiction, Level, Role, User
from liangyi.demo import factories, generator
from liangyi.people.models import MeasureKind, Person, Plan, Status, TimelineEvent

TODAY = date(2026, 3, 1)
PERSONS = 120
QUJING_COUNTIES = {
    "530302": "麒麟区", "530303": "沾益区", "530304": "马龙区", "530322": "陆良县", "530323": "师宗县",
    "530324": "罗平县", "530325": "富源县", "530326": "会泽县", "530381": "宣威市",
}


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _snapshot(*, seed: int, persons: int) -> list[tuple]:
    """Generate a city, read it back, and roll it all back: as if into a fresh database."""
    with transaction.atomic():
        generator.generate(persons=persons, seed=seed, today=TODAY)
        rows = sorted(
            (str(p.pk), p.name, p.id_number, p.status, p.household_jurisdiction_id, p.residence_jurisdiction_id,
             p.employment, p.has_skill, tuple(p.substances), p.first_use_year, p.phone, p.infectious_disease,
             p.measures.count(), p.timeline.count())
            for p in Person.objects.prefetch_related(None)
        )
        transaction.set_rollback(True)
    return rows


@pytest.fixture(scope="class")
def city(django_db_setup, django_db_blocker):
    """One demo city shared by the read-only tests of a class, rolled back after them."""
    with django_db_blocker.unblock(), transaction.atomic():
        summary = generator.generate(persons=PERSONS, seed=11, today=TODAY)
        yield summary
        transaction.set_rollback(True)


@pytest.mark.django_db
class TestDeterminism:
    def test_the_same_seed_gives_the_same_city(self):
        first = _snapshot(seed=3, persons=60)
        assert len(first) == 60
        assert _snapshot(seed=3, persons=60) == first

    def test_another_seed_gives_another_city(self):
        a, b = _snapshot(seed=3, persons=30), _snapshot(seed=4, persons=30)
        assert {r[2] for r in a} != {r[2] for r in b}
        assert sorted(r[1] for r in a) != sorted(r[1] for r in b)


@pytest.mark.django_db
@pytest.mark.usefixtures("city")
class TestDemoCity:
    def test_the_counties_are_exactly_qujings_nine(self):
        counties = dict(Jurisdiction.objects.filter(level=Level.COUNTY).values_list("code", "name"))
        assert counties == QUJING_COUNTIES
        assert Jurisdiction.objects.get(code="5303").name == "曲靖市"
        assert Jurisdiction.objects.get(code="53").name == "云南省"

    def test_the_tree_is_valid_and_plausibly_named(self):
        for j in Jurisdiction.objects.select_related("parent"):
            j.full_clean()
        for county in QUJING_COUNTIES:
            townships = Jurisdiction.objects.filter(parent_id=county)
            assert 3 <= townships.count() <= 5
            for t in townships:
                assert t.name.endswith(("街道", "镇", "乡"))
                villages = Jurisdiction.objects.filter(parent=t)
                assert 2 <= villages.count() <= 3
                assert all(v.name.endswith(("社区", "村")) for v in villages)

    def test_every_role_has_a_user_with_the_shared_password(self):
        roles = set(User.objects.values_list("role", flat=True))
        assert roles == set(Role.values)
        assert User.objects.get(username="admin").jurisdiction_id is None
        assert User.objects.get(username="facility").jurisdiction_id == "5303"
        assert User.objects.get(username="worker_530302001").check_password(factories.PASSWORD)
        for township in Jurisdiction.objects.filter(level=Level.TOWNSHIP):
            assert User.objects.filter(role=Role.COMMUNITY_WORKER, jurisdiction=township).exists()
            assert User.objects.filter(role=Role.SOCIAL_WORKER, jurisdiction=township).exists()
        for county in QUJING_COUNTIES:
            for role in (Role.LEADER, Role.POLICE, Role.HEALTH, Role.HR, Role.CIVIL_AFFAIRS, Role.EDUCATION):
                assert User.objects.filter(role=role, jurisdiction_id=county).exists()

    def test_every_demo_login_exists_with_its_role_and_jurisdiction(self):
        for login in generator.demo_logins():
            user = User.objects.get(username=login.username)
            assert (user.role, user.jurisdiction_id or "") == (login.role, login.jurisdiction)

    def test_every_id_number_is_valid_and_agrees_with_the_person(self):
        persons = list(Person.objects.all())
        assert len(persons) == PERSONS
        assert len({p.id_number for p in persons}) == PERSONS
        for p in persons:
            parsed = idnumber.parse(p.id_number)
            assert parsed.number == p.id_number
            assert parsed.address_code == p.household_jurisdiction_id[:6]
            assert p.household_jurisdiction_id[:6] in QUJING_COUNTIES
            assert parsed.birth_date == p.birth_date
            assert parsed.gender == p.gender
            assert p.id_number_masked == idnumber.mask(p.id_number)

    def test_sensitive_fields_are_encrypted_at_rest(self):
        p = Person.objects.exclude(phone="").first()
        with connection.cursor() as cursor:
            cursor.execute("SELECT id_number, phone, household_address FROM people_person WHERE id = %s",
                           [p.pk.hex if connection.vendor == "sqlite" else p.pk])
            raw = cursor.fetchone()
        assert all(value.startswith(("sm4gcm:", "aesgcm:")) for value in raw)
        assert p.id_number not in raw[0] and p.phone not in raw[1]

    def test_every_status_is_present_and_most_are_in_community(self):
        counts = Counter(Person.objects.values_list("status", flat=True))
        assert set(counts) == set(Status.values)
        community = counts[Status.COMMUNITY_REHAB] + counts[Status.COMMUNITY_DRUG_REHAB]
        assert community > PERSONS / 2
        assert counts[Status.DECEASED] < counts[Status.ISOLATION] < counts[Status.COMMUNITY_DRUG_REHAB]

    def test_the_community_profile_matches_the_survey(self):
        community = list(Person.objects.filter(status__in=generator.SURVEY_STATUSES))
        n = len(community)
        not_employed = sum(p.employment == "unemployed" for p in community) / n
        no_skill = sum(p.has_skill is False for p in community) / n
        aged_50 = sum(_age(p.birth_date, TODAY) >= 50 for p in community) / n
        # The shares are allocated, not drawn: only rounding separates them from the survey.
        assert abs(not_employed - 0.4906) < 0.03
        assert abs(no_skill - 0.5849) < 0.03
        assert abs(aged_50 - 0.4465) < 0.03

    def test_the_rest_of_the_profile_is_plausible(self):
        persons = list(Person.objects.all())
        men = sum(p.gender == "M" for p in persons) / PERSONS
        elsewhere = sum(p.residence_jurisdiction_id != p.household_jurisdiction_id for p in persons) / PERSONS
        hiv = sum("HIV阳性" in p.infectious_disease for p in persons) / PERSONS
        ethnicities = Counter(p.ethnicity for p in persons)
        assert 0.80 <= men <= 0.90
        assert 0.05 <= elsewhere <= 0.25
        assert 0.02 <= hiv <= 0.08
        assert ethnicities.most_common(1)[0][0] == "汉族" and len(ethnicities) >= 3
        assert set(ethnicities) <= {"汉族", "彝族", "回族", "苗族", "布依族"}
        for p in persons:
            assert 20 <= _age(p.birth_date, TODAY) <= 70
            assert p.jurisdiction_id == p.residence_jurisdiction_id
            assert p.substances and p.manner_of_use
            first_measure = min(m.start_on for m in p.measures.all())
            assert p.birth_date.year + 14 < p.first_use_year <= first_measure.year

    def test_measures_agree_with_the_status(self):
        for p in Person.objects.prefetch_related("measures"):
            measures = sorted(p.measures.all(), key=lambda m: m.start_on)
            open_kinds = [m.kind for m in measures if m.end_on is None]
            for m in measures:
                assert m.end_on is None or m.end_on >= m.start_on
                assert m.start_on < TODAY
            if p.status == Status.ISOLATION:
                assert open_kinds == [MeasureKind.ISOLATION]
            elif p.status in (Status.COMMUNITY_REHAB, Status.COMMUNITY_DRUG_REHAB):
                assert open_kinds == [p.status]
            elif p.status in (Status.COMPLETED, Status.ABSTINENT_3Y, Status.IMPRISONED, Status.DECEASED):
                assert open_kinds == []
            else:
                assert len(open_kinds) == 1 and open_kinds[0] != MeasureKind.ISOLATION
            # Community rehab follows release from compulsory isolation, the same day.
            for before, after in zip(measures, measures[1:], strict=False):
                if after.kind == MeasureKind.COMMUNITY_REHAB:
                    assert before.kind == MeasureKind.ISOLATION and before.end_on == after.start_on
            if p.status == Status.ABSTINENT_3Y:
                assert (TODAY - measures[-1].end_on).days >= 3 * 365

    def test_every_timeline_tells_the_history_in_the_past(self):
        midnight = timezone.make_aware(datetime.combine(TODAY, time()))
        assert TimelineEvent.objects.filter(occurred_at__gte=midnight).count() == 0
        for p in Person.objects.all():
            events = list(p.timeline.order_by("occurred_at", "id"))
            assert events[0].kind == "person.created"
            kinds = {e.kind for e in events}
            assert "person.measure_added" in kinds
            if p.status in (Status.COMMUNITY_REHAB, Status.COMMUNITY_DRUG_REHAB):
                assert {"report.received", "agreement.signed"} <= kinds
            if p.status == Status.AWAITING_REPORT:
                assert "report.received" not in kinds
            measures = p.measures.count()
            assert sum(e.kind == "person.measure_added" for e in events) == measures

    def test_community_persons_have_their_townships_worker_and_mostly_a_plan(self):
        community = Person.objects.filter(status__in=generator.COMMUNITY_STATUSES).select_related("responsible_worker")
        for p in community:
            assert p.responsible_worker.role == Role.COMMUNITY_WORKER
            assert p.responsible_worker.jurisdiction_id == p.jurisdiction_id[:9]
        assert not Person.objects.filter(status=Status.COMPLETED).exclude(responsible_worker=None).exists()
        survey = Person.objects.filter(status__in=generator.SURVEY_STATUSES)
        with_plan = survey.filter(pk__in=Plan.objects.values("person_id")).count()
        assert with_plan >= 0.8 * survey.count()

    def test_everyone_has_one_to_three_family_members_some_of_them_emergency_contacts(self):
        for p in Person.objects.prefetch_related("family"):
            family = list(p.family.all())
            assert 1 <= len(family) <= 3
            assert sum(f.is_emergency_contact for f in family) <= 1
            assert all(f.phone for f in family if f.is_emergency_contact)
        emergency = Person.objects.filter(family__is_emergency_contact=True).distinct().count()
        assert 0.5 * PERSONS <= emergency < PERSONS

    def test_a_few_probable_duplicates_are_flagged(self):
        flagged = list(Person.objects.exclude(possible_duplicate_of=None).select_related("possible_duplicate_of"))
        assert 2 <= len(flagged) <= 5
        for p in flagged:
            twin = p.possible_duplicate_of
            assert (twin.name, twin.birth_date, twin.gender) == (p.name, p.birth_date, p.gender)
            assert twin.id_number != p.id_number
        pairs = Counter(Person.objects.values_list("name", "birth_date"))
        assert sum(1 for count in pairs.values() if count > 1) == len(flagged)


@pytest.mark.django_db
class TestSeedDemoCommand:
    def test_it_loads_the_city_with_a_progress_bar_a_summary_and_an_audit_entry(self):
        out, err = StringIO(), StringIO()
        call_command("seed_demo", "--persons", "40", "--seed", "5", stdout=out, stderr=err)
        assert Person.objects.count() == 40
        assert "[" + "#" * 30 + "] 40/40 persons" in err.getvalue()
        assert "20/40 persons" in err.getvalue()
        assert "Demo city loaded" in out.getvalue() and "community_rehab" in out.getvalue()
        entry = AuditEntry.objects.get(action="demo.seeded")
        assert (entry.actor_username, entry.detail["persons"], entry.detail["seed"]) == ("seed_demo", 40, 5)
        assert audit.verify()[0]
        assert TimelineEvent.objects.filter(occurred_at__gte=timezone.now()).count() == 0

    def test_if_empty_leaves_a_registry_with_persons_alone(self):
        factories.person(factories.small_tree()["township"])
        out = StringIO()
        call_command("seed_demo", "--if-empty", stdout=out, stderr=StringIO())
        assert "not loaded" in out.getvalue()
        assert Person.objects.count() == 1
        assert not User.objects.filter(username="leader").exists()
        assert not AuditEntry.objects.filter(action="demo.seeded").exists()

    def test_it_refuses_a_registry_with_persons(self):
        factories.person(factories.small_tree()["township"])
        with pytest.raises(CommandError, match="fresh database"):
            call_command("seed_demo", "--persons", "10", stdout=StringIO(), stderr=StringIO())
        assert Person.objects.count() == 1

    @override_settings(PRODUCTION=True)
    def test_it_refuses_in_production(self):
        with pytest.raises(CommandError, match="production"):
            call_command("seed_demo", "--persons", "10", stdout=StringIO(), stderr=StringIO())
        assert not Person.objects.exists() and not Jurisdiction.objects.exists()

    @override_settings(DEMO_MODE=False)
    def test_it_refuses_a_real_deployment(self):
        with pytest.raises(CommandError, match="demo mode"):
            call_command("seed_demo", "--if-empty", stdout=StringIO(), stderr=StringIO())
        assert not Person.objects.exists() and not User.objects.exists()

    def test_it_keeps_existing_users_as_they_are(self):
        places = factories.small_tree()
        admin = factories.user("admin", Role.ADMIN, None, full_name="真管理员")
        before = admin.password
        out = StringIO()
        call_command("seed_demo", "--persons", "12", stdout=out, stderr=StringIO())
        admin.refresh_from_db()
        assert (admin.full_name, admin.password) == ("真管理员", before)
        assert "kept existing: admin" in out.getvalue()
        assert Jurisdiction.objects.get(code=places["township"].code).name == places["township"].name


@pytest.mark.django_db
class TestDemoLoginsCommand:
    def test_it_prints_the_logins_after_seeding(self):
        call_command("seed_demo", "--persons", "10", stdout=StringIO(), stderr=StringIO())
        out = StringIO()
        call_command("demo_logins", stdout=out)
        text = out.getvalue()
        for login in generator.demo_logins():
            assert login.username in text
        assert factories.PASSWORD in text and "社区戒毒社区康复专职人员" in text and "翠峰街道" in text

    def test_it_says_to_seed_first_on_an_empty_database(self):
        out = StringIO()
        call_command("demo_logins", stdout=out)
        assert "seed_demo" in out.getvalue() and factories.PASSWORD not in out.getvalue()

    def test_the_logins_cover_every_role(self):
        assert {login.role for login in generator.demo_logins()} == set(Role.values)
        usernames = {m.username: m for m in generator.staff()}
        for login in generator.demo_logins():
            assert usernames[login.username].role == login.role


@pytest.mark.django_db
def test_the_demo_city_has_schedules_with_a_few_overdue():
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    from liangyi.obligations.models import Obligation

    call_command("seed_demo", persons=120, seed=7, stdout=StringIO(), stderr=StringIO())
    today = timezone.localdate()
    assert Obligation.objects.filter(kind="drug_test").exists()
    open_past = Obligation.objects.filter(done_at=None, due_on__lt=today).count()
    done_past = Obligation.objects.filter(done_at__isnull=False, due_on__lt=today).count()
    assert 0 < open_past < done_past  # most past tests were done, a few are overdue
    assert Obligation.objects.filter(due_on__gte=today, done_at=None).exists()
