"""A police officer, in a real browser: set up the authenticator at the first login, log out, log
in again with the password and a code."""

from __future__ import annotations

import os
import time

import pyotp
import pytest
from playwright.sync_api import expect, sync_playwright

from liangyi.core import twofactor
from liangyi.core.models import SecondFactor
from liangyi.demo import factories
from liangyi.people.tests.test_browser import ARTIFACTS, CHROMIUM_ARGS

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.mark.browser
def test_an_officer_enrols_an_authenticator_and_logs_in_with_it(live_server, transactional_db, settings):
    settings.TWO_FACTOR_REQUIRED = True
    places = factories.small_tree()
    officer = factories.user("police", "police", places["township"], full_name="周警官")
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="en-US", viewport={"width": 1024, "height": 900})
            page.set_default_timeout(15_000)
            console_errors: list[str] = []
            page.on("console", lambda msg: console_errors.append(msg.text)
                    if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico") else None)

            def password_step() -> None:
                page.goto(f"{live_server.url}/login/")
                page.get_by_label("Username").fill("police")
                page.get_by_label("Password").fill(factories.PASSWORD)
                page.get_by_role("button", name="Log in").click()

            # First login: the password leads to the enrolment page, not into the application.
            password_step()
            expect(page.get_by_role("heading", level=1)).to_have_text("Two-step login")
            expect(page.get_by_test_id("totp-qr")).to_be_visible()
            secret = page.get_by_test_id("totp-secret").inner_text().strip()
            page.get_by_test_id("otp-code").fill(pyotp.TOTP(secret).now())
            page.get_by_role("button", name="Confirm").click()

            codes = page.get_by_test_id("recovery-codes").get_by_role("listitem")
            expect(codes).to_have_count(twofactor.RECOVERY_CODES)
            page.screenshot(path=str(ARTIFACTS / "two-factor-codes.png"), full_page=True)
            page.get_by_test_id("continue").click()
            expect(page.get_by_role("button", name="Log out")).to_be_visible()
            assert SecondFactor.objects.get(user=officer).confirmed_at is not None

            page.get_by_role("button", name="Log out").click()
            expect(page.get_by_label("Username")).to_be_visible()

            # Second login: password, then a code the app shows (the next one: the first is used).
            password_step()
            expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
            page.get_by_test_id("otp-code").fill(pyotp.TOTP(secret).at(time.time() + twofactor.STEP_SECONDS))
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("button", name="Log out")).to_be_visible()
            expect(page.get_by_role("heading", level=1)).not_to_have_text("Enter your code")
            assert console_errors == []
        finally:
            browser.close()
