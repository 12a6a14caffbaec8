"""A township worker, in a real browser: the reveal asks to confirm (htmx fragment with a link), the
confirm page brings them back to the file, the reveal then works; My account lists the session."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect, sync_playwright

from liangyi.demo import factories
from liangyi.people.tests.test_browser import ARTIFACTS, CHROMIUM_ARGS

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.mark.browser
def test_a_stale_proof_is_renewed_on_the_confirm_page_and_the_reveal_follows(live_server, transactional_db,
                                                                              settings):
    places = factories.small_tree()
    factories.user("worker", "community_worker", places["township"], full_name="张专干")
    person = factories.person(places["township"], name="王建国", phone="13812345678")
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900},
                                    user_agent="Mozilla/5.0 liangyi-browser-test")
            page.set_default_timeout(15_000)
            console_errors: list[str] = []
            page.on("console", lambda msg: console_errors.append(msg.text)
                    if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico") else None)
            page.goto(f"{live_server.url}/login/")
            page.get_by_label("Username").fill("worker")
            page.get_by_label("Password").fill(factories.PASSWORD)
            page.locator("form button[type=submit].primary").click()
            expect(page.get_by_test_id("whoami")).to_be_visible()

            file_url = f"{live_server.url}/persons/{person.pk}/"
            page.goto(file_url)
            settings.REAUTH_MINUTES = 0  # the login's proof is now too old
            page.get_by_test_id("reveal-id_number").click()
            expect(page.get_by_test_id("reauth-needed")).to_be_visible()
            assert person.id_number not in page.content()

            page.get_by_test_id("reauth-link").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
            # (A fresh proof would send the confirm page straight on: the window opens again only now.)
            settings.REAUTH_MINUTES = 15
            page.get_by_label("Password").fill(factories.PASSWORD)
            page.get_by_test_id("reauth-submit").click()
            page.wait_for_url(file_url)
            page.get_by_test_id("reveal-id_number").click()
            expect(page.get_by_test_id("revealed-id_number")).to_have_text(person.id_number)

            page.get_by_test_id("nav-account").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("My account")
            expect(page.get_by_test_id("this-session")).to_be_visible()
            expect(page.get_by_test_id("session-table")).to_contain_text("liangyi-browser-test")
            page.screenshot(path=str(ARTIFACTS / "account.png"), full_page=True)
            assert console_errors == []
        finally:
            browser.close()
