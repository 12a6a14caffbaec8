"""In a real browser: the facility records the release; the township acknowledges, records the
pick-up, the decision and the report, and records the signature on the printable agreement."""

from __future__ import annotations

import os
from datetime import date

import pytest
from playwright.sync_api import expect, sync_playwright

from liangyi.demo import factories
from liangyi.handover.models import HandoverState
from liangyi.handover.tests.conftest import assess, new_stay
from liangyi.people.models import Status
from liangyi.people.tests.test_browser import ARTIFACTS, CHROMIUM_ARGS

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


def _login(page, url: str, username: str) -> None:
    page.goto(f"{url}/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(factories.PASSWORD)
    page.locator("form button[type=submit].primary").click()


@pytest.mark.browser
def test_release_acknowledgement_pickup_report_agreement(live_server, transactional_db):
    places = factories.small_tree()
    facility = factories.user("facility", "facility", places["city"], full_name="孙管教")
    factories.user("worker", "community_worker", places["township"], full_name="张专干")
    person = factories.person(places["township"], name="李强", status=Status.ISOLATION)
    stay = new_stay(person, facility, decided=date(2022, 2, 21))
    assess(stay, facility, on=date(2024, 2, 1), recommend_community_rehab=True)
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            errors: list[str] = []

            def new_page():
                page = browser.new_context(viewport={"width": 1024, "height": 1280}).new_page()
                page.set_default_timeout(15_000)
                page.on("console", lambda m: errors.append(m.text)
                        if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico") else None)
                return page

            # The facility records the release on the planned day.
            page = new_page()
            _login(page, live_server.url, "facility")
            page.get_by_test_id("nav-handover-facility").click()
            page.get_by_role("link", name="李强").click()
            expect(page.get_by_test_id("ho-planned")).to_contain_text("2024-02-20")
            page.get_by_test_id("ho-release").click()
            page.get_by_label("Released on").fill("2024-02-20")
            page.get_by_label("Release certificate number").fill("解除001")
            page.get_by_test_id("record-submit").click()
            expect(page.get_by_test_id("ho-stay-state")).to_have_text("Released")

            # The township: inbox → packet → acknowledge → pick-up → decision → report → agreement.
            page = new_page()
            _login(page, live_server.url, "worker")
            page.get_by_test_id("nav-handover-inbox").click()
            expect(page.get_by_test_id("inbox")).to_contain_text("李强")
            page.get_by_test_id("inbox-open").click()
            expect(page.get_by_test_id("result-physical_detox")).to_have_text("pass")
            page.get_by_test_id("packet-acknowledge").click()
            expect(page.get_by_test_id("packet-state")).to_have_text("Acknowledged")

            pickup = page.get_by_test_id("packet-form-pickup")
            pickup.get_by_label("Collected by").select_option("family")
            pickup.get_by_label("Collector's name").fill("李母")
            pickup.get_by_label("Collected on").fill("2024-02-20")
            page.get_by_test_id("packet-submit-pickup").click()
            expect(page.get_by_test_id("packet-pickup")).to_contain_text("李母")

            decision = page.get_by_test_id("packet-form-decision")
            decision.get_by_label("Measure").select_option("community_rehab")
            decision.get_by_label("Decided on").fill("2024-02-20")
            decision.get_by_label("Decision received on").fill("2024-02-20")
            decision.get_by_label("Term (months)").fill("36")
            page.get_by_test_id("packet-submit-decision").click()
            # Received in 2024, the 15 days are long past today: the packet says so, and the late
            # report is still recorded.
            expect(page.get_by_test_id("packet-state")).to_have_text("Report overdue")

            page.get_by_test_id("packet-form-report").get_by_label("Reported on").fill("2024-03-01")
            page.get_by_test_id("packet-submit-report").click()

            text = page.get_by_test_id("agreement-text")
            expect(text).to_contain_text("社区康复协议书")
            expect(text).to_contain_text("李强")
            page.get_by_label("Signed on").fill("2024-03-01")
            page.get_by_test_id("agreement-sign").click()
            expect(page.get_by_test_id("agreement-signed")).to_contain_text("2024-03-01")
            expect(page.get_by_test_id("agreement-text")).to_contain_text("签订日期：2024年03月01日")
            page.screenshot(path=str(ARTIFACTS / "handover-agreement.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()

    person.refresh_from_db()
    assert person.status == Status.COMMUNITY_REHAB
    assert stay.handover.__class__.objects.get(pk=stay.handover.pk).state_on(date(2024, 3, 1)) == \
        HandoverState.AGREEMENT_SIGNED
