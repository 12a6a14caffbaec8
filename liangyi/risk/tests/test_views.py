"""The Risk section, instrument forms, grading and override pages, the evidence page, and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.risk import grading, services
from liangyi.risk.models import Assessment, Grading, Override
from liangyi.risk.tests.conftest import days_ago, running_order
from liangyi.risk.tests.test_services import PHQ9_TEN, SUPPORT_POOR
from liangyi.supervision import services as supervision
from liangyi.supervision.models import Result


def today():
    return timezone.localdate()


def file_url(person) -> str:
    return reverse("people:detail", args=[person.pk]) + "?tab=risk"


def api_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def graded(person, worker, order):
    services.assessment_record(person=person, instrument="phq9", answers=PHQ9_TEN, actor=worker)
    return Grading.objects.filter(person=person).first()


@pytest.mark.django_db
class TestRiskSection:
    def test_it_shows_the_level_in_colour_and_words_and_every_factor(self, person, personas, client_as, graded):
        response = client_as(personas["worker"]).get(file_url(person))
        assert response.status_code == 200
        html = response.content.decode()
        level = grading.current().level(graded.level)
        assert f'class="level level-{level.colour} level-large" data-testid="risk-level">{level.label}<' in html
        for factor in grading.current().factors:
            assert f'data-testid="factor-{factor.key}"' in html
        assert 'data-testid="assess-phq9"' in html and 'data-testid="grade-now"' in html
        assert 'data-testid="risk-override"' not in html  # a worker may not override

    def test_a_leader_may_override_and_sees_no_medical_factor_values(self, person, personas, client_as, graded):
        html = client_as(personas["leader"]).get(file_url(person)).content.decode()
        assert 'data-testid="risk-override"' in html
        assert 'data-testid="assess-phq9"' not in html
        row = html.split('data-testid="factor-phq9"', 1)[1].split("</tr>", 1)[0]
        assert "not shown to your role" in row and ">10<" not in row
        assert 'data-testid="risk-assessments"' not in html  # the PHQ-9 itself is medical: not listed

    def test_an_ungraded_person_says_what_to_do(self, person, personas, client_as):
        html = client_as(personas["worker"]).get(file_url(person)).content.decode()
        assert 'data-testid="risk-none"' in html

    def test_a_role_without_drug_history_has_no_risk_tab(self, person, personas, client_as):
        assert client_as(personas["job_officer"]).get(file_url(person)).status_code == 404

    def test_the_neighbour_gets_404(self, person, personas, client_as):
        assert client_as(personas["neighbour"]).get(file_url(person)).status_code == 404


@pytest.mark.django_db
class TestInstrumentForm:
    def url(self, person, key="phq9"):
        return reverse("risk:assess", args=[person.pk, key])

    def test_it_renders_large_radio_targets_for_every_item(self, person, personas, client_as):
        html = client_as(personas["worker"]).get(self.url(person)).content.decode()
        assert html.count('class="choice"') == 9 * 4
        assert 'data-testid="item-q9"' in html and 'data-testid="instrument-submit"' in html

    def test_posting_scores_and_redirects_to_the_risk_tab(self, person, personas, client_as, order):
        data = {"assessed_on": today().isoformat(), **PHQ9_TEN}
        response = client_as(personas["worker"]).post(self.url(person), data)
        assert response.status_code == 302 and response.url == file_url(person)
        assert Assessment.objects.get(person=person).total == 10

    def test_item_9_raises_a_warning_after_saving(self, person, personas, client_as, order):
        data = {"assessed_on": today().isoformat(), **PHQ9_TEN, "q9": 1}
        response = client_as(personas["worker"]).post(self.url(person), data, follow=True)
        assert "ask about thoughts of self-harm today" in response.content.decode()
        assert Assessment.objects.get(person=person).flags == ["self_harm"]

    def test_a_missing_answer_keeps_the_others_and_names_the_item(self, person, personas, client_as):
        data = {"assessed_on": today().isoformat(), **{k: v for k, v in PHQ9_TEN.items() if k != "q5"}}
        response = client_as(personas["worker"]).post(self.url(person), data)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Every item must be answered" in html
        item = html.split('data-testid="item-q5"', 1)[1].split("</fieldset>", 1)[0]
        assert "Not answered." in item
        assert '<input type="radio" name="q2" value="2" id="id_q2_2" checked>' in html  # what was chosen is kept
        assert not Assessment.objects.exists()

    def test_a_score_cannot_be_typed(self, person, personas, client_as):
        data = {"assessed_on": today().isoformat(), **PHQ9_TEN, "total": 0}
        client_as(personas["worker"]).post(self.url(person), data)
        assert Assessment.objects.get(person=person).total == 10

    def test_a_social_worker_gets_403_for_the_phq9_but_may_fill_the_checklist(self, person, social_worker, client_as):
        assert client_as(social_worker).get(self.url(person)).status_code == 403
        assert client_as(social_worker).get(self.url(person, "social_support")).status_code == 200

    def test_an_unknown_instrument_is_404(self, person, personas, client_as):
        assert client_as(personas["worker"]).get(self.url(person, "bdi")).status_code == 404

    def test_outsider_404_and_anonymous_to_login(self, person, personas, client_as):
        assert client_as(personas["neighbour"]).get(self.url(person)).status_code == 404
        response = client_as(None).get(self.url(person))
        assert response.status_code == 302 and "login" in response.url


@pytest.mark.django_db
class TestGradeAndOverridePages:
    def test_grade_now(self, person, personas, client_as, order):
        response = client_as(personas["worker"]).post(reverse("risk:grade", args=[person.pk]), {"reason": "visit"})
        assert response.status_code == 302
        assert Grading.objects.get(person=person).reason == "visit"

    def test_grade_needs_assess_risk(self, person, personas, client_as):
        assert client_as(personas["leader"]).post(reverse("risk:grade", args=[person.pk])).status_code == 403

    def test_override_with_a_reason(self, person, personas, client_as, graded):
        url = reverse("risk:override", args=[person.pk])
        expires = (today() + timedelta(days=30)).isoformat()
        response = client_as(personas["leader"]).post(url, {"level": "high", "reason": "", "expires_on": expires})
        assert response.status_code == 400 and not Override.objects.exists()
        response = client_as(personas["leader"]).post(url, {"level": "high", "reason": "dealer contact",
                                                            "expires_on": expires})
        assert response.status_code == 302
        html = client_as(personas["leader"]).get(file_url(person)).content.decode()
        assert 'data-testid="risk-override-active"' in html and "dealer contact" in html

    def test_override_forbidden_for_a_worker_and_hidden_from_outsiders(self, person, personas, client_as, graded):
        url = reverse("risk:override", args=[person.pk])
        assert client_as(personas["worker"]).post(url, {}).status_code == 403
        assert client_as(personas["neighbour"]).post(url, {}).status_code == 404
        assert client_as(None).post(url, {}).status_code == 302


@pytest.mark.django_db
class TestEvidencePage:
    URL = "/risk/evidence/"

    def test_nobody_graded_says_so(self, personas, client_as):
        response = client_as(personas["leader"]).get(self.URL)
        assert response.status_code == 200 and 'data-testid="evidence-empty"' in response.content.decode()

    def test_too_little_data_is_said_with_the_numbers(self, person, personas, client_as, graded):
        html = client_as(personas["leader"]).get(self.URL).content.decode()
        assert 'data-testid="level-too-little"' in html
        assert "Too little data: 1 person, at least 20 needed." in html

    def test_enough_persons_draw_a_curve_with_the_numbers_behind_it(self, places, personas, client_as, settings):
        worker = personas["worker"]
        rules = grading.current()
        for n in range(20):
            p = factories.person(places["township"], name=f"人员{n}")
            order = running_order(p, worker, reported_days_ago=400)
            Grading.objects.create(person=p, graded_on=days_ago(390), ruleset=rules.key,
                                   ruleset_version=rules.version, level="high", points=60, reason="t")
            supervision.test_record(order=order, tested_on=days_ago(300 - 10 * n),
                                    result=Result.POSITIVE if n % 4 == 0 else Result.NEGATIVE, actor=worker,
                                    sample="urine")
        html = client_as(personas["leader"]).get(self.URL).content.decode()
        assert 'data-testid="level-chart"' in html and "<path d=\"M48" in html
        row = html.split('data-testid="level-row-high"', 1)[1].split("</tr>", 1)[0]
        assert "<td>20</td><td>5</td>" in row

    def test_only_roles_with_view_figures(self, personas, client_as, social_worker):
        assert client_as(social_worker).get(self.URL).status_code == 403
        assert client_as(None).get(self.URL).status_code == 302

    def test_the_page_has_no_inline_script_or_style(self, personas, client_as, person, graded):
        html = client_as(personas["leader"]).get(self.URL).content.decode()
        assert "<script>" not in html and "style=" not in html


@pytest.mark.django_db
class TestApi:
    def url(self, person, tail="risk/"):
        return f"/api/v1/persons/{person.pk}/{tail}"

    def test_get_risk_explains_each_factor(self, person, personas, graded):
        response = api_for(personas["worker"]).get(self.url(person))
        assert response.status_code == 200
        body = response.json()
        assert body["level"]["key"] == graded.level and body["grading"]["points"] == graded.points
        assert sum(f["points"] for f in body["factors"]) == graded.points
        phq9 = next(f for f in body["factors"] if f["key"] == "phq9")
        assert (phq9["value"], phq9["hidden"]) == (10, False)

    def test_a_leader_does_not_read_the_phq9_value(self, person, personas, graded):
        body = api_for(personas["leader"]).get(self.url(person)).json()
        phq9 = next(f for f in body["factors"] if f["key"] == "phq9")
        assert (phq9["value"], phq9["hidden"]) == (None, True)

    def test_post_an_assessment_returns_the_computed_score(self, person, personas, order):
        response = api_for(personas["worker"]).post(self.url(person, "assessments/"),
                                                    {"instrument": "social_support", "answers": SUPPORT_POOR},
                                                    format="json")
        assert response.status_code == 201
        assert (response.json()["total"], response.json()["band"]) == (8, "poor")

    def test_missing_answers_are_400_per_item(self, person, personas):
        response = api_for(personas["worker"]).post(self.url(person, "assessments/"),
                                                    {"instrument": "gad7", "answers": {"q1": 1}}, format="json")
        assert response.status_code == 400 and "q2" in response.json()

    def test_a_typed_total_is_refused(self, person, personas):
        response = api_for(personas["worker"]).post(self.url(person, "assessments/"),
                                                    {"instrument": "gad7", "answers": {}, "total": 3}, format="json")
        assert response.status_code == 400 and "total" in response.json()

    def test_override(self, person, personas, graded):
        data = {"level": "low", "reason": "stable job", "expires_on": (today() + timedelta(days=20)).isoformat()}
        assert api_for(personas["worker"]).post(self.url(person, "risk/override/"), data,
                                                format="json").status_code == 403
        response = api_for(personas["leader"]).post(self.url(person, "risk/override/"), data, format="json")
        assert response.status_code == 201
        assert api_for(personas["leader"]).get(self.url(person)).json()["level"]["key"] == "low"
        assert AuditEntry.objects.filter(action="risk.overridden").exists()

    def test_outsider_404_and_anonymous_401(self, person, personas):
        assert api_for(personas["neighbour"]).get(self.url(person)).status_code == 404
        assert api_for(None).get(self.url(person)).status_code == 401
