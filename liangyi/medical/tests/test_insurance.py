"""Medical insurance years, the yearly renewal obligation, the Insurance section and the API."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import AuditEntry
from liangyi.medical import plans, services
from liangyi.medical.models import InsuranceYear, Scheme
from liangyi.obligations import engine
from liangyi.obligations import selectors as obligation_selectors
from liangyi.obligations.models import Kind, Obligation
from liangyi.people.models import TimelineEvent
from liangyi.risk.tests.conftest import running_order
from liangyi.supervision import services as supervision
from liangyi.supervision.plans import term_end


def today() -> date:
    return timezone.localdate()


@pytest.fixture
def worker(personas):
    return personas["worker"]


@pytest.fixture
def order(person, worker):
    return running_order(person, worker, reported_days_ago=200)


def api_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def with_window(first: str, last: str) -> core_rules.RuleSet:
    ruleset = core_rules.current()
    rule = replace(ruleset.rule("insurance_collection_window"), value=[first, last])
    return replace(ruleset, rules={**ruleset.rules, "insurance_collection_window": rule})


def renewals(person) -> list[Obligation]:
    return list(Obligation.objects.filter(person=person, kind=Kind.INSURANCE_RENEWAL).order_by("due_on"))


class TestCollectionWindow:
    def test_the_window_lies_in_the_year_before_the_year_covered(self):
        assert plans.collection_window(core_rules.current(), 2027) == (date(2026, 9, 1), date(2026, 12, 31))

    def test_a_province_changes_the_window_without_code(self):
        assert plans.collection_window(with_window("10-15", "12-20"), 2028) == (date(2027, 10, 15), date(2027, 12, 20))


@pytest.mark.django_db
class TestPlan:
    def test_each_year_of_the_term_after_the_report_is_planned_up_to_the_horizon(self, person, order):
        ruleset = core_rules.current()
        horizon = today() + timedelta(days=800)
        expected, year = [], order.reported_on.year + 1
        while True:
            opens, due = plans.collection_window(ruleset, year)
            if due > horizon or opens > term_end(order):
                break
            expected.append((f"insurance:{order.pk}:{year}", opens, due))
            year += 1
        got = [(p.key, p.window_start, p.due_on) for p in plans.renewals(person, ruleset, horizon)]
        assert got == expected
        assert len(expected) >= 2  # the horizon reaches at least two collection periods
        assert all(p.office_id == order.office_id and p.kind == Kind.INSURANCE_RENEWAL
                   for p in plans.renewals(person, ruleset, horizon))

    def test_a_paid_year_is_not_planned(self, person, order, worker):
        ruleset = core_rules.current()
        horizon = today() + timedelta(days=800)
        first = order.reported_on.year + 1
        InsuranceYear.objects.create(person=person, year=first, scheme=Scheme.RESIDENT, paid_on=today())
        keys = [p.key for p in plans.renewals(person, ruleset, horizon)]
        assert f"insurance:{order.pk}:{first}" not in keys
        assert f"insurance:{order.pk}:{first + 1}" in keys

    def test_a_year_recorded_unpaid_stays_planned(self, person, order):
        first = order.reported_on.year + 1
        InsuranceYear.objects.create(person=person, year=first, scheme=Scheme.NONE)
        keys = [p.key for p in plans.renewals(person, core_rules.current(), today() + timedelta(days=800))]
        assert f"insurance:{order.pk}:{first}" in keys

    def test_insurance_through_an_employer_stops_the_renewals(self, person, order):
        first = order.reported_on.year + 1
        InsuranceYear.objects.create(person=person, year=first - 1, scheme=Scheme.EMPLOYEE, paid_on=order.reported_on)
        assert plans.renewals(person, core_rules.current(), today() + timedelta(days=800)) == []

    def test_no_running_term_no_renewal(self, person, worker):
        assert plans.renewals(person, core_rules.current(), today() + timedelta(days=800)) == []
        order = running_order(person, worker, reported_days_ago=400)
        supervision.order_terminate(order=order, on=today(), reason="death", actor=worker)
        assert plans.renewals(person, core_rules.current(), today() + timedelta(days=800)) == []

    def test_the_report_plans_them_and_a_sync_creates_them_once(self, person, order, worker):
        planned = renewals(person)  # the report re-planned every source of the person
        assert len(planned) >= 1
        Obligation.objects.filter(pk__in=[o.pk for o in planned]).delete()
        horizon = max(o.due_on for o in planned)
        first = engine.sync(person, actor=worker, only=[plans.SOURCE], horizon=horizon)
        again = engine.sync(person, actor=worker, only=[plans.SOURCE], horizon=horizon)
        assert first.created == len(renewals(person)) == len(planned)
        assert again.changed == 0


@pytest.mark.django_db
class TestRecording:
    def test_a_paid_year_meets_its_renewal_is_audited_and_on_the_timeline(self, person, order, worker):
        engine.sync(person, actor=worker, only=[plans.SOURCE])
        due = renewals(person)[0]
        year = int(due.key.rsplit(":", 1)[1])
        paid_on = min(today(), due.due_on)
        record = services.year_record(person=person, year=year, scheme=Scheme.RESIDENT, paid_on=paid_on,
                                      actor=worker, subsidised=True)
        due.refresh_from_db()
        assert due.done_at is not None and due.done_on == paid_on
        assert (due.fulfilled_by_type, due.fulfilled_by_id) == ("medical.insuranceyear", str(record.pk))
        assert AuditEntry.objects.filter(action="insurance.recorded", person_id=person.pk).exists()
        assert TimelineEvent.objects.filter(person=person, kind="insurance.recorded").exists()
        # The next sync leaves the fulfilled renewal alone and plans nothing for that year.
        assert engine.sync(person, actor=worker, only=[plans.SOURCE]).changed == 0
        due.refresh_from_db()
        assert due.done_at is not None

    def test_correcting_a_year_keeps_one_row(self, person, order, worker):
        services.year_record(person=person, year=today().year, scheme=Scheme.NONE, paid_on=None, actor=worker)
        services.year_record(person=person, year=today().year, scheme=Scheme.RESIDENT, paid_on=today(), actor=worker)
        assert InsuranceYear.objects.filter(person=person).count() == 1
        assert InsuranceYear.objects.get(person=person).scheme == Scheme.RESIDENT

    @pytest.mark.parametrize(("year", "scheme", "paid_on", "field"), [
        (0, Scheme.RESIDENT, None, "year"),
        (None, Scheme.RESIDENT, timedelta(days=1), "paid_on"),
        (None, Scheme.RESIDENT, None, "paid_on"),
        (None, Scheme.NONE, timedelta(days=0), "paid_on"),
        (-1, Scheme.RESIDENT, "next-year", "paid_on"),
    ])
    def test_bad_input_says_what_to_fix_and_saves_nothing(self, person, worker, year, scheme, paid_on, field):
        this = today().year
        year = this if year is None else (this + year if year < 0 else year)
        if paid_on == "next-year":
            paid_on = date(this, 1, 1)
            year = this - 1
        elif isinstance(paid_on, timedelta):
            paid_on = today() + paid_on
        with pytest.raises(DomainError) as err:
            services.year_record(person=person, year=year, scheme=scheme, paid_on=paid_on, actor=worker)
        assert field in err.value.errors
        assert not InsuranceYear.objects.exists()


@pytest.mark.django_db
class TestWorklist:
    def test_an_open_renewal_reaches_the_township_worklist(self, person, order, worker, personas):
        engine.sync(person, actor=worker, only=[plans.SOURCE])
        first = renewals(person)[0]
        on = first.due_on  # the last day to pay: due
        mine = obligation_selectors.worklist(worker, on).filter(kind=Kind.INSURANCE_RENEWAL)
        assert list(mine.values_list("pk", flat=True)) == [first.pk]
        assert not obligation_selectors.worklist(personas["neighbour"], on).filter(kind=Kind.INSURANCE_RENEWAL)


def file_url(person) -> str:
    return reverse("people:detail", args=[person.pk]) + "?tab=insurance"


@pytest.mark.django_db
class TestPages:
    def test_the_section_says_who_is_not_insured_and_offers_the_form(self, person, order, worker, client_as):
        engine.sync(person, actor=worker, only=[plans.SOURCE])
        page = client_as(worker).get(file_url(person))
        body = page.content.decode()
        assert page.status_code == 200
        assert 'data-testid="insurance-current"' in body and "Not known to be insured" in body
        assert 'data-testid="insurance-renewals"' in body
        assert reverse("medical:record", args=[person.pk]) in body

    def test_a_worker_records_a_year(self, person, order, worker, client_as):
        url = reverse("medical:record", args=[person.pk])
        answer = client_as(worker).post(url, {"year": today().year, "scheme": "resident",
                                              "paid_on": f"{today():%Y-%m-%d}", "notes": "家属代缴"})
        assert answer.status_code == 302 and answer["Location"] == file_url(person)
        assert InsuranceYear.objects.get(person=person).notes == "家属代缴"
        page = client_as(worker).get(file_url(person)).content.decode()
        assert "Insured for" in page and "家属代缴" in page

    def test_bad_input_keeps_what_was_typed(self, person, order, worker, client_as):
        url = reverse("medical:record", args=[person.pk])
        answer = client_as(worker).post(url, {"year": today().year, "scheme": "resident", "paid_on": "",
                                              "notes": "还没交"})
        assert answer.status_code == 400
        assert "还没交" in answer.content.decode() and "Enter the day the contribution was paid" in \
            answer.content.decode()
        assert not InsuranceYear.objects.exists()

    def test_a_role_without_edit_may_look_but_not_record(self, person, order, personas, client_as):
        officer = personas["job_officer"]
        page = client_as(officer).get(file_url(person)).content.decode()
        assert 'data-testid="insurance-status"' in page
        assert 'data-testid="insurance-record"' not in page
        url = reverse("medical:record", args=[person.pk])
        assert client_as(officer).post(url, {"year": today().year, "scheme": "none"}).status_code == 403
        assert not InsuranceYear.objects.exists()

    def test_out_of_reach_is_404(self, person, order, personas, client_as):
        url = reverse("medical:record", args=[person.pk])
        assert client_as(personas["neighbour"]).get(url).status_code == 404


@pytest.mark.django_db
class TestApi:
    def url(self, person) -> str:
        return reverse("api-person-insurance", args=[person.pk])

    def test_record_and_read(self, person, order, worker):
        posted = api_for(worker).post(self.url(person), {"year": today().year, "scheme": "resident",
                                                         "paid_on": f"{today():%Y-%m-%d}"}, format="json")
        assert posted.status_code == 201, posted.content
        got = api_for(worker).get(self.url(person))
        assert got.status_code == 200
        assert got.json() == [{"year": today().year, "scheme": "resident", "paid_on": f"{today():%Y-%m-%d}",
                               "subsidised": False, "notes": ""}]

    def test_errors_and_reach(self, person, order, worker, personas):
        bad = api_for(worker).post(self.url(person), {"year": today().year, "scheme": "resident"}, format="json")
        assert bad.status_code == 400 and "paid_on" in bad.content.decode()
        assert api_for(personas["neighbour"]).get(self.url(person)).status_code == 404
        assert api_for(personas["job_officer"]).post(self.url(person), {"year": today().year, "scheme": "none"},
                                                     format="json").status_code == 403
        assert api_for(None).get(self.url(person)).status_code in (401, 403)


@pytest.mark.django_db
class TestBatched:
    def test_the_batched_form_plans_exactly_what_the_generator_plans(self, places, worker):
        from liangyi.demo import factories

        ruleset, horizon = core_rules.current(), today() + timedelta(days=800)
        persons = []
        for n, story in enumerate(("none", "paid", "employee", "unpaid", "suspended", "awaiting", "no-order")):
            person = factories.person(places["township"], name=f"测试{n}")
            persons.append(person)
            if story == "no-order":
                continue
            if story == "awaiting":
                supervision.order_create(person=person, kind="community_drug_rehab", decided_on=today(),
                                         received_on=today(), actor=worker)
                continue
            order = running_order(person, worker, reported_days_ago=500)
            first = order.reported_on.year + 1
            if story == "paid":
                InsuranceYear.objects.create(person=person, year=first, scheme=Scheme.RESIDENT, paid_on=today())
            elif story == "employee":
                InsuranceYear.objects.create(person=person, year=first, scheme=Scheme.EMPLOYEE, paid_on=today())
            elif story == "unpaid":
                InsuranceYear.objects.create(person=person, year=first, scheme=Scheme.NONE)
            elif story == "suspended":
                supervision.order_suspend(order=order, start=today() - timedelta(days=30), reason="detention",
                                          actor=worker)
        batched = plans.renewals_many(persons, ruleset, horizon)
        for person in persons:
            assert batched.get(person.pk, []) == plans.renewals(person, ruleset, horizon), person.name
        assert sum(len(v) for v in batched.values()) >= 4
        assert engine._batched[plans.SOURCE] is plans.renewals_many  # the nightly run uses it


@pytest.mark.django_db
def test_the_worklist_row_of_a_renewal_opens_the_insurance_tab(person, order, worker, client_as):
    engine.sync(person, actor=worker, only=[plans.SOURCE])
    renewal = renewals(person)[0]
    from django.template.loader import render_to_string

    row = obligation_selectors.with_state(Obligation.objects.filter(pk=renewal.pk), renewal.due_on).get()
    html = render_to_string("obligations/_row.html", {"o": row, "today": renewal.due_on})
    assert f'{reverse("people:detail", args=[person.pk])}?tab=insurance' in html
