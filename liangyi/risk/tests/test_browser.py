"""A worker on a tablet fills in the PHQ-9 and sees the level; a leader reads the evidence page."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from liangyi.demo import factories
from liangyi.people.tests.test_browser import ARTIFACTS, CHROMIUM_ARGS
from liangyi.risk import grading
from liangyi.risk.models import Assessment, Grading
from liangyi.risk.tests.conftest import running_order
from liangyi.supervision import services as supervision
from liangyi.supervision.models import Result

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


def _login(page, url: str, username: str) -> None:
    page.goto(f"{url}/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(factories.PASSWORD)
    page.locator("form button[type=submit].primary").click()


@pytest.mark.browser
def test_phq9_on_a_tablet_and_the_evidence_page(live_server, transactional_db):
    places = factories.small_tree()
    worker = factories.user("worker", "community_worker", places["township"], full_name="张专干")
    factories.user("leader", "leader", places["county"], full_name="王主任")
    person = factories.person(places["township"], name="王建国", substances=["海洛因"], first_use_year=2000,
                              employment="unemployed")
    running_order(person, worker, reported_days_ago=200)
    rules = grading.current()
    today = timezone.localdate()
    for n in range(24):  # enough history for one curve
        other = factories.person(places["township"], name=f"人员{n}")
        order = running_order(other, worker, reported_days_ago=400)
        Grading.objects.create(person=other, graded_on=today - timedelta(days=390), ruleset=rules.key,
                               ruleset_version=rules.version, level="medium", points=30, reason="t")
        for k in range(1, 4):
            supervision.test_record(order=order, tested_on=today - timedelta(days=390 - 90 * k - n),
                                    result=Result.POSITIVE if (n + k) % 7 == 0 else Result.NEGATIVE, actor=worker,
                                    sample="urine")
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 1280}, has_touch=True)
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text)
                    if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico") else None)
            _login(page, live_server.url, "worker")
            page.goto(f"{live_server.url}/persons/{person.pk}/?tab=risk")
            expect(page.get_by_test_id("risk-none")).to_be_visible()
            page.get_by_test_id("assess-phq9").click()
            answers = [1, 2, 0, 1, 3, 0, 2, 1, 0]
            for n, value in enumerate(answers, start=1):
                item = page.get_by_test_id(f"item-q{n}")
                choice = item.locator("label.choice").nth(value)
                assert choice.bounding_box()["height"] >= 44  # a finger-sized target
                choice.tap()
            page.get_by_test_id("instrument-submit").tap()
            expect(page.get_by_test_id("risk-level")).to_be_visible()
            expect(page.get_by_test_id("factor-phq9")).to_contain_text("10")
            assert Assessment.objects.get(person=person).total == 10
            page.screenshot(path=str(ARTIFACTS / "risk-section.png"), full_page=True)
            assert errors == []

            page.context.clear_cookies()
            _login(page, live_server.url, "leader")
            page.get_by_test_id("nav-risk-evidence").click()
            expect(page.get_by_test_id("level-chart")).to_be_visible()
            expect(page.get_by_test_id("level-row-medium")).to_contain_text("24")
            page.screenshot(path=str(ARTIFACTS / "risk-evidence.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
