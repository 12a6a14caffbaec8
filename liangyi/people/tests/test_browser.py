"""A township worker, in a real browser: log in, find a person, open the file, show the ID number."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from liangyi.demo import factories

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to be called from
# one unless told it is safe (it is here: the test and the live server use their own threads).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.mark.browser
def test_worker_finds_a_person_and_reveals_the_id_number(live_server, transactional_db, project_language):
    places = factories.small_tree()
    factories.user("worker", "community_worker", places["township"], full_name="张专干")
    person = factories.person(places["township"], name="王建国", phone="13812345678",
                              residence_address="南宁街道幸福路1号", substances=["海洛因"])
    factories.person(places["township"], name="李秀英")
    ARTIFACTS.mkdir(exist_ok=True)

    # No try/skip around the launch: a browser that does not start fails the test.
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            # CSP violations (an inline style or script without the nonce) show up as console errors.
            console_errors: list[str] = []
            # (The site has no favicon yet; the browser's request for one is not the page's fault.)
            page.on("console", lambda msg: console_errors.append(f"{msg.text} {msg.location.get('url', '')}")
                    if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico") else None)
            page.goto(f"{live_server.url}/login/")
            assert page.locator("html").get_attribute("lang").startswith("zh")
            page.locator("input[name=username]").fill("worker")
            page.locator("input[name=password]").fill(factories.PASSWORD)
            page.locator("form button[type=submit].primary").click()

            # Staff land on their worklist; the person search is one click away in the navigation.
            expect(page.get_by_role("heading", level=1)).to_contain_text("工作清单")
            page.get_by_role("navigation").get_by_role("link", name="人员", exact=True).click()
            search = page.get_by_test_id("search")
            expect(search).to_be_visible()
            search.fill("王建")
            search.press("Enter")
            table = page.get_by_test_id("person-table")
            expect(table).to_contain_text("王建国")
            expect(table).not_to_contain_text("李秀英")
            table.get_by_role("link", name="王建国").click()

            header = page.get_by_test_id("person-header")
            expect(header).to_contain_text("王建国")
            expect(header).to_contain_text(person.id_number_masked)
            assert person.id_number not in page.content()

            page.get_by_test_id("reveal-id_number").click()
            expect(page.get_by_test_id("revealed-id_number")).to_have_text(person.id_number)
            expect(page.get_by_test_id("reveal-id_number")).to_have_count(0)
            assert page.locator("html").get_attribute("lang").startswith("zh")
            page.screenshot(path=str(ARTIFACTS / "person.png"), full_page=True)
            # A 404 for /static/liangyi/app.css here means the stylesheet is not found by the staticfiles
            # finders (settings.STATICFILES_DIRS must list liangyi/static).
            assert console_errors == []
        finally:
            browser.close()
