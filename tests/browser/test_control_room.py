"""The operator's control room in a real browser: log in, watch the dashboard live, run and cancel a task, and
see an extension's page come and go with its lifecycle.

Each test keeps full-page screenshots of the pages it visits in var/screenshots/<test name>/.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Console, RunningPlatform, Screenshots

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAB = "control-room-lab"
BENCH = f"/admin/extensions/{LAB}/bench"
# The dashboard's parts refresh every 5 s: a change shows within one refresh, plus the request.
DASHBOARD_REFRESH_MS = 12_000
# An execution's page polls every second; a cancelled run stops at its next heartbeat (2 s).
EXECUTION_LIVE_MS = 10_000
# Set on window: still there after a change shows means no reload happened in between.
MARKER = "window.__karenNotReloaded"


def runs_last_hour(page: Page) -> tuple[int, int]:
    """The dashboard's "Runs, last hour" figure and its completed count."""
    tile = page.locator('[data-figure="runs-1"]')
    total = int(tile.locator(".cr-value").inner_text())
    completed = int(re.search(r"(\d+) completed", tile.locator(".cr-detail").inner_text()).group(1))
    return total, completed


def test_logging_in_through_the_form_shows_the_dashboard(
    platform: RunningPlatform, anonymous_page: Page, console: Console, screenshots: Screenshots
):
    page = anonymous_page

    page.goto(f"{platform.url}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    screenshots.take(page, "login-form")
    page.fill("#id_username", "admin")
    page.fill("#id_password", platform.password)
    page.click("input[type=submit]")

    expect(page).to_have_url(f"{platform.url}/admin/")
    expect(page.locator("h1")).to_have_text("Control room")
    for component in ("database", "broker", "workers", "beat"):
        expect(page.locator(f'[data-component="{component}"]')).to_have_attribute(
            "data-status", "ok", timeout=DASHBOARD_REFRESH_MS
        )
    expect(page.locator(f'#part-extensions [data-extension="{LAB}"] [data-status]')).to_have_text("active")
    expect(page.locator(f'#nav-sidebar [data-navigation-item="{LAB}/bench"]')).to_have_text("🧪 Lab bench")
    expect(page.locator('[data-table="active-runs"]')).to_be_visible()
    screenshots.take(page, "dashboard")
    assert console.errors == []


def test_dashboard_shows_a_run_start_and_end_without_reloading(
    platform: RunningPlatform, page: Page, console: Console, screenshots: Screenshots
):
    release = platform.folder / f"release-{uuid.uuid4().hex}"
    page.goto(f"{platform.url}/admin/")
    total_before, completed_before = runs_last_hour(page)
    page.evaluate(f"{MARKER} = true")
    screenshots.take(page, "dashboard-before-the-run")

    answer = platform.api(
        "POST", f"/api/extensions/background-tasks/{LAB}/hold/execute", {"parameters": {"release_file": str(release)}}
    )
    assert answer.status_code == 202, answer.text
    row = page.locator(f'[data-table="active-runs"] tr[data-execution="{answer.json()["execution_id"]}"]')
    expect(row).to_be_visible(timeout=DASHBOARD_REFRESH_MS)
    expect(row).to_contain_text(f"{LAB}/hold")
    screenshots.take(page, "dashboard-run-active")
    release.touch()

    expect(row).to_have_count(0, timeout=DASHBOARD_REFRESH_MS)
    expect(page.locator('[data-figure="runs-1"] .cr-detail')).to_contain_text(
        re.compile(rf"(^|\D){completed_before + 1} completed"), timeout=DASHBOARD_REFRESH_MS
    )
    assert runs_last_hour(page) == (total_before + 1, completed_before + 1)
    assert page.evaluate(MARKER) is True
    screenshots.take(page, "dashboard-run-ended")
    assert console.errors == []


def test_run_form_refuses_bad_input_then_its_run_is_watched_live_and_cancelled(
    platform: RunningPlatform, page: Page, console: Console, screenshots: Screenshots
):
    page.goto(f"{platform.url}/admin/extensions/{LAB}/")
    screenshots.take(page, "extension-page")
    page.locator('[data-section="tasks"] tr', has_text="count").locator('[data-action="run"]').click()
    expect(page.locator('form[data-run-form="control-room-lab/count"]')).to_be_visible()
    run_form_url = page.url
    screenshots.take(page, "run-form")

    page.fill("#id_steps", "0")
    page.click("input[name=_run]")
    expect(page.locator('[data-parameter="steps"] .errorlist')).to_have_text(
        "Ensure this value is greater than or equal to 1."
    )
    assert page.url == run_form_url
    screenshots.take(page, "run-form-refuses-zero-steps")
    page.fill("#id_steps", "300")
    page.fill("#id_pause_seconds", "0.1")
    page.click("input[name=_run]")

    expect(page).to_have_url(re.compile(r"/admin/extensions_core/taskexecution/[0-9a-f-]{36}/change/$"))
    page.evaluate(f"{MARKER} = true")
    status = page.locator("#execution-live [data-execution-status]")
    expect(status).to_have_text("running", timeout=EXECUTION_LIVE_MS)
    log_lines = page.locator("#execution-log span")
    expect(log_lines.first).to_contain_text("step 1 of 300", timeout=EXECUTION_LIVE_MS)
    seen = log_lines.count()
    page.wait_for_function(
        "seen => document.querySelectorAll('#execution-log span').length > seen", arg=seen, timeout=EXECUTION_LIVE_MS
    )
    assert page.evaluate(MARKER) is True
    screenshots.take(page, "execution-running")
    page.click("input[name=_cancel_execution]")

    expect(status).to_have_text("cancelled", timeout=EXECUTION_LIVE_MS)
    live = page.locator("#execution-live")
    expect(live).to_contain_text("The run has ended; this page no longer refreshes.")
    expect(live.locator("th", has_text="Result")).to_have_count(0)
    expect(log_lines.last).to_contain_text("cancelled")
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/live/" in request.url else None)
    page.wait_for_timeout(2_500)
    assert polls == []
    screenshots.take(page, "execution-cancelled")
    page.reload()
    expect(page.locator(".field-result_pretty .readonly")).to_have_text("- (a cancelled run has no result)")
    expect(page.locator("input[name=_cancel_execution]")).to_have_count(0)
    screenshots.take(page, "execution-cancelled-reloaded")
    assert console.errors == []


def test_extension_page_and_its_navigation_item_go_with_unload_and_come_back_with_load(
    platform: RunningPlatform, page: Page, console: Console, screenshots: Screenshots
):
    navigation_item = page.locator(f'#nav-sidebar [data-navigation-item="{LAB}/bench"]')
    dashboard_link = page.locator(f'#extension-pages [data-navigation-item="{LAB}/bench"]')
    page.goto(f"{platform.url}{BENCH}")
    expect(page.locator(f'[data-extension-page="{LAB}/bench"]')).to_contain_text("The lab bench of Control room lab")
    screenshots.take(page, "bench-page")
    page.goto(f"{platform.url}/admin/extensions/{LAB}/")
    extension_url = page.url
    screenshots.take(page, "extension-active")

    page.click('.object-tools button[data-action="unload"]')
    expect(page.locator('[data-section="status"] [data-status]')).to_have_attribute("data-status", "not_loaded")
    screenshots.take(page, "extension-unloaded")
    page.goto(f"{platform.url}/admin/")
    expect(page.locator(f'#part-extensions [data-extension="{LAB}"] [data-status]')).to_have_text("not loaded")
    expect(navigation_item).to_have_count(0)
    expect(dashboard_link).to_have_count(0)
    screenshots.take(page, "dashboard-without-the-page")
    gone = page.goto(f"{platform.url}{BENCH}")
    assert gone.status == 404
    screenshots.take(page, "bench-page-404")

    page.goto(extension_url)
    page.click('.object-tools button[data-action="load"]')
    expect(page.locator('[data-section="status"] [data-status]')).to_have_attribute("data-status", "active")
    screenshots.take(page, "extension-loaded-again")
    page.goto(f"{platform.url}/admin/")
    expect(navigation_item).to_have_text("🧪 Lab bench")
    expect(dashboard_link).to_have_text("🧪 Lab bench")
    screenshots.take(page, "dashboard-with-the-page-again")
    back = page.goto(f"{platform.url}{BENCH}")
    assert back.status == 200
    expect(page.locator(f'[data-extension-page="{LAB}/bench"]')).to_be_visible()
    screenshots.take(page, "bench-page-again")
    assert [error for error in console.errors if "404 (Not Found)" not in error] == []
