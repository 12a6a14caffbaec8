"""In a real browser: a township worker runs a whole community term on the person's file, from the
decision to the completion, and every step lands on the timeline (issue 4)."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect, sync_playwright

from liangyi.demo import factories
from liangyi.people.models import Status, TimelineEvent
from liangyi.people.tests.test_browser import ARTIFACTS, CHROMIUM_ARGS
from liangyi.supervision.models import CommunityOrder, OrderState, Violation, ViolationKind

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


def _login(page, url: str, username: str) -> None:
    page.goto(f"{url}/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(factories.PASSWORD)
    page.locator("form button[type=submit].primary").click()


def _record(page, key: str, fields: dict[str, str], selects: dict[str, str] | None = None) -> None:
    """Open the section's form ``key``, fill it by label and submit it."""
    form = page.get_by_test_id(f"sv-form-{key}")
    form.locator("summary").click()
    for label, value in (selects or {}).items():
        form.get_by_label(label).select_option(value)
    for label, value in fields.items():
        form.get_by_label(label).fill(value)
    page.get_by_test_id(f"sv-submit-{key}").click()


@pytest.mark.browser
def test_a_whole_community_term_from_decision_to_completion(live_server, transactional_db):
    places = factories.small_tree()
    factories.user("worker", "community_worker", places["township"], full_name="张专干")
    person = factories.person(places["township"], name="赵立新", status=Status.AWAITING_REPORT)
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            errors: list[str] = []
            page = browser.new_context(viewport={"width": 1024, "height": 1400}).new_page()
            page.set_default_timeout(15_000)
            page.on("console", lambda m: errors.append(m.text)
                    if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico") else None)
            _login(page, live_server.url, "worker")
            page.goto(f"{live_server.url}/persons/{person.pk}/?tab=supervision")
            expect(page.get_by_test_id("sv-none")).to_be_visible()

            _record(page, "decision", {"Decided on": "2023-02-01", "Decision received on": "2023-02-02",
                                       "Decided by": "曲靖市公安局麒麟分局"},
                    selects={"Measure": "community_drug_rehab"})
            expect(page.get_by_test_id("sv-state")).to_have_text("Awaiting report")
            _record(page, "report", {"Reported on": "2023-02-10"})
            expect(page.get_by_test_id("sv-state")).to_have_text("Active")
            expect(page.get_by_test_id("sv-term")).to_contain_text("2023-02-10 – 2026-02-09")

            _record(page, "test", {"Tested on": "2023-03-01", "Collectors (two names)": "张专干 李专干"},
                    selects={"Result": "negative"})
            expect(page.get_by_test_id("sv-tests")).to_contain_text("2023-03-01")
            _record(page, "contact", {"On": "2023-03-05", "Notes": "家访：情况稳定"}, selects={"Kind": "home_visit"})
            expect(page.get_by_test_id("sv-contacts")).to_contain_text("家访：情况稳定")

            _record(page, "leave", {"Leaves on": "2023-04-01", "Returns by": "2023-04-10", "Destination": "昆明"})
            leaves = page.get_by_test_id("sv-leaves")
            leaves.locator("input[name=approved_on]").fill("2023-03-30")
            leaves.get_by_role("button").click()
            expect(page.get_by_test_id("sv-leaves")).to_contain_text("approved on 2023-03-30")

            _record(page, "absence", {"Left on": "2023-06-01", "Returned on": "2023-06-05", "Destination": "贵州"})
            expect(page.get_by_test_id("sv-violations")).to_contain_text("Left the county without permission")

            _record(page, "suspend", {"Detained or arrested on": "2024-05-01"}, selects={"Reason": "detention"})
            expect(page.get_by_test_id("sv-state")).to_have_text("Suspended")
            _record(page, "resume", {"On": "2024-05-15"})
            expect(page.get_by_test_id("sv-state")).to_have_text("Active")
            # The 14 days in detention do not count: the term runs on by as many days.
            expect(page.get_by_test_id("sv-term")).to_contain_text("2023-02-10 – 2026-02-23")

            _record(page, "complete", {"On": "2026-02-23"})
            expect(page.get_by_test_id("status")).to_have_text("Term completed")
            # The ended term stays on the file.
            expect(page.get_by_test_id("sv-past")).to_contain_text("2023-02-10 – 2026-02-23")
            expect(page.get_by_test_id("sv-past")).to_contain_text("Completed")
            page.screenshot(path=str(ARTIFACTS / "community-term.png"), full_page=True)

            page.goto(f"{live_server.url}/persons/{person.pk}/?tab=timeline")
            timeline = page.get_by_test_id("section-timeline")
            for date in ("2023-02-10", "2023-03-01", "2023-03-05", "2023-06-01", "2024-05-01", "2026-02-23"):
                expect(timeline).to_contain_text(date)
            assert errors == []
        finally:
            browser.close()

    order = CommunityOrder.objects.get(person=person)
    assert order.state == OrderState.COMPLETED
    assert list(order.violations.values_list("kind", flat=True)) == [ViolationKind.UNAUTHORISED_ABSENCE]
    assert Violation.objects.count() == 1
    kinds = set(TimelineEvent.objects.filter(person=person).values_list("kind", flat=True))
    assert len(kinds) >= 8, kinds
