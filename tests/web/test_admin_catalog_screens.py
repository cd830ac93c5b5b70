"""The back office's dashboard, catalog, enrollments and check-in screens in a real Chromium against the demo.

What the pages must show is read from the API (the demo's numbers). Each page is screenshot and checked
by axe at desktop (1366×768) and phone (375 px) size. An admin creates a course and a session, publishes
it, raises the capacity of the demo's full session and sees its waitlist served, and closes the session.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.web.browser import open_tab
from tests.web.screens import Demo, check_screen, chromium, demo_app, ready, ui_login

pytestmark = pytest.mark.skipif(not ready(), reason="needs the built web view (make web) and /usr/bin/chromium")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def demo(make_settings: Any, db: Any) -> AsyncIterator[Demo]:
    """The app with the demo data."""
    async with demo_app(make_settings, db) as app:
        yield app


async def _board(demo: Demo, kind: str) -> dict[str, Any]:
    return (await demo.client.get("/api/v1/admin/dashboard", token=await demo.token(kind))).json  # type: ignore[no-any-return]


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_admin_pages_show_the_demo(browser: Browser, demo: Demo, viewport: str) -> None:
    """工作台 with the demo's numbers, then 课程管理, 班次管理, 报名管理 and 签到管理."""
    board = await _board(demo, "admin")
    tab = await open_tab(browser, demo.url, viewport)
    page = tab.page
    await ui_login(tab, *demo.accounts["admin"])
    dashboard = page.get_by_test_id("office-dashboard")
    await expect(page.get_by_role("heading", name=re.compile("^工作台"))).to_be_visible()
    await expect(page.get_by_test_id("tile-review")).to_have_text(str(board["review"]["waiting"]))
    await expect(page.get_by_test_id("tile-sessions")).to_have_text(str(board["open_sessions_total"]))
    waiting = sum(s["waitlist"] for s in board["open_sessions"])
    assert waiting >= 1, board["open_sessions"]  # the demo has a waitlist
    await expect(page.get_by_test_id("tile-waitlist")).to_have_text(str(waiting))
    today = board["checkins_today"][0]
    await expect(page.get_by_test_id("tile-checkins")).to_have_text(str(today["checked_in"]))
    await expect(page.get_by_test_id("tile-jobs")).to_have_text(str(board["jobs"]["failed"] + board["jobs"]["dead"]))
    for payment in board["review"]["oldest"]:
        await expect(dashboard).to_contain_text(payment["reference"])
    full = next(s for s in board["open_sessions"] if s["code"].startswith("ZL-"))
    await expect(page.get_by_test_id(f"open-{full['code']}")).to_contain_text(f"{full['seats_taken']} / {full['capacity']}")
    await expect(dashboard).to_contain_text(today["code"])
    await expect(dashboard).to_contain_text("¥")
    await check_screen(tab, "admin-dashboard")

    await tab.open("/admin/courses")
    await expect(page.get_by_role("heading", name="课程管理")).to_be_visible()
    await expect(page.get_by_text("工程勘察质量管理专项培训")).to_be_visible()
    await check_screen(tab, "admin-courses")

    await tab.open("/admin/sessions")
    await expect(page.get_by_role("heading", name="班次管理")).to_be_visible()
    await expect(page.get_by_test_id(f"waitlist-{full['code']}")).to_have_text(str(full["waitlist"]))
    await check_screen(tab, "admin-sessions")

    await tab.open(f"/admin/enrollments?session_id={today['session_id']}")
    await expect(page.get_by_role("heading", name="报名管理")).to_be_visible()
    await expect(page.get_by_test_id("roster-total")).to_contain_text(f"共 {today['approved']} 条")
    await expect(page.locator("table").first).to_contain_text("*")  # ID numbers masked
    await check_screen(tab, "admin-enrollments")

    await tab.open(f"/admin/checkin?session_id={today['session_id']}&day={board['today']}")
    await expect(page.get_by_role("heading", name="签到管理")).to_be_visible()
    await expect(page.get_by_test_id("count-checked")).to_have_text(str(today["checked_in"]))
    await expect(page.get_by_test_id("count-conflicts")).to_have_text(str(today["conflicts"]))
    await expect(page.get_by_text("door-2")).to_be_visible()  # the conflict: scanned again at another door
    await expect(page.get_by_test_id("attendance-export")).to_be_visible()
    await check_screen(tab, "admin-checkin")
    await tab.context.close()


async def test_filters_stick_in_the_url_and_across_visits(browser: Browser, demo: Demo) -> None:
    """A filter chosen on 班次管理 is in the URL, and the page opens with it next time."""
    tab = await open_tab(browser, demo.url, "desktop")
    page = tab.page
    await ui_login(tab, *demo.accounts["admin"])
    await tab.open("/admin/sessions")
    await page.get_by_placeholder("班次编号或课程名称").fill("ZL-")
    await page.get_by_role("button", name="查询").click()
    await tab.settle()
    assert "q=ZL-" in page.url
    await expect(page.locator("tbody tr")).to_have_count(1)
    await tab.open("/admin/courses")
    await tab.open("/admin/sessions")  # no query in the address: the last filters come back
    await expect(page.get_by_placeholder("班次编号或课程名称")).to_have_value("ZL-")
    assert "q=ZL-" in page.url
    await expect(page.locator("tbody tr")).to_have_count(1)
    await tab.context.close()


async def _pick_date(page: Page, label: str, value: date) -> None:
    dialog = page.locator(".t-dialog", has_text="新建班次")
    field = dialog.locator(".t-form__item", has=page.locator(".t-form__label", has_text=label)).locator("input")
    await field.fill(value.isoformat())
    await field.press("Enter")  # commits the typed date (and does not submit the form)


async def test_admin_creates_publishes_raises_capacity_and_closes(browser: Browser, demo: Demo) -> None:
    """A course and a session through the forms; publish; the full session's capacity raised for its waitlist; close."""
    board = await _board(demo, "admin")
    full = next(s for s in board["open_sessions"] if s["code"].startswith("ZL-"))
    tab = await open_tab(browser, demo.url, "desktop")
    page = tab.page
    await ui_login(tab, *demo.accounts["admin"])

    await tab.open("/admin/courses")
    await page.get_by_test_id("new-course").click()
    dialog = page.locator(".t-dialog")
    await dialog.get_by_placeholder("如 岩土工程勘察专项培训").fill("钻探作业安全专项培训")
    await dialog.get_by_role("button", name="保存").click()
    await expect(dialog).to_contain_text("必填项")  # the API's messages next to the fields
    await dialog.get_by_placeholder("如 继续教育").fill("继续教育")
    await dialog.get_by_placeholder("如 培训 / 考试").fill("培训")
    await dialog.get_by_placeholder("如 岩土工程", exact=True).fill("岩土工程")
    await dialog.get_by_placeholder("学时").fill("8")
    await check_screen(tab, "admin-course-form")
    await dialog.get_by_role("button", name="保存").click()
    await expect(page.get_by_text("钻探作业安全专项培训")).to_be_visible()

    await tab.open("/admin/sessions")
    await page.get_by_test_id("new-session").click()
    dialog = page.locator(".t-dialog", has_text="新建班次")
    await dialog.locator(".t-form__item", has_text="课程").first.locator("input").click()
    await page.locator(".t-select-option", has_text="钻探作业安全专项培训").click()
    await dialog.get_by_placeholder("如 YT-2026-01（唯一）").fill("ZT-TEST-01")
    await dialog.get_by_placeholder("如 一期", exact=True).fill("一期")
    today = date.fromisoformat(board["today"])
    await _pick_date(page, "报名开始日期", today)
    await _pick_date(page, "报名结束日期", today + timedelta(days=9))
    await _pick_date(page, "培训开始日期", today + timedelta(days=5))  # before the end of enrollment: refused
    await _pick_date(page, "培训结束日期", today + timedelta(days=16))
    await dialog.get_by_placeholder("如 1200.00").fill("800")
    await dialog.get_by_placeholder("人数").fill("30")
    await dialog.get_by_placeholder("详细地址").fill("上海市徐汇区宜山路 700 号")
    await dialog.get_by_role("button", name="保存").click()
    await expect(dialog).to_contain_text("报名结束日期须早于培训开始日期")
    await check_screen(tab, "admin-session-form")
    await _pick_date(page, "培训开始日期", today + timedelta(days=15))
    await dialog.get_by_role("button", name="保存").click()
    await expect(page.get_by_test_id("status-ZT-TEST-01")).to_have_text("草稿")

    await page.get_by_test_id("publish-ZT-TEST-01").click()
    await page.locator(".t-popconfirm").get_by_role("button", name="确定").click()
    await expect(page.get_by_test_id("status-ZT-TEST-01")).to_have_text("已发布")

    # The demo's full session: raise its capacity; the new seat goes to the first in line.
    await page.get_by_test_id(f"capacity-{full['code']}").click()
    dialog = page.locator(".t-dialog", has_text="调整计划人数")
    await expect(dialog.get_by_test_id("capacity-waitlist")).to_have_text(f"{full['waitlist']} 人")
    await dialog.locator(".t-input-number input").fill(str(full["capacity"] + 1))
    await expect(dialog.get_by_test_id("capacity-effect")).to_contain_text("为 1 位候补者保留名额")
    await check_screen(tab, "admin-capacity")
    await dialog.get_by_role("button", name="保存").click()
    await expect(page.get_by_test_id(f"waitlist-{full['code']}")).to_have_text(str(full["waitlist"] - 1))
    await expect(page.get_by_test_id(f"seats-{full['code']}")).to_contain_text(f"/ {full['capacity'] + 1}")
    await expect(page.get_by_text("保留 1")).to_be_visible()

    await page.get_by_test_id("close-ZT-TEST-01").click()
    await page.locator(".t-popconfirm").get_by_role("button", name="确定").click()
    await expect(page.get_by_test_id("status-ZT-TEST-01")).to_have_text("已结束")
    sessions = (await demo.client.get("/api/v1/admin/sessions?q=ZT-TEST-01", token=await demo.token("admin"))).json
    assert sessions["items"][0]["status"] == "closed" and sessions["items"][0]["fee_fen"] == 80000

    # The course is archived: it leaves the list of courses in use, and shows under 已归档.
    await tab.open("/admin/courses")
    row = page.locator("tbody tr", has_text="钻探作业安全专项培训")
    await row.get_by_role("button", name="归档").click()
    await page.locator(".t-popconfirm").get_by_role("button", name="确定").click()
    await expect(row).to_have_count(0)
    await page.locator(".t-form__item", has_text="状态").locator("input").click()
    await page.locator(".t-select-option", has_text="已归档").click()
    await page.get_by_role("button", name="查询").click()
    await expect(row.get_by_text("已归档")).to_be_visible()
    assert "archived=true" in page.url
    assert not tab.errors, tab.errors
    await tab.context.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_scanner_sees_today_and_the_checkin_page(browser: Browser, demo: Demo, viewport: str) -> None:
    """A scanner's 工作台 is today's check-ins only; 签到管理 opens on the session in training today."""
    board = await _board(demo, "scanner")
    assert board["review"] is None and board["open_sessions"] is None and board["checkins_today"]
    today = board["checkins_today"][0]
    tab = await open_tab(browser, demo.url, viewport)
    page = tab.page
    await ui_login(tab, *demo.accounts["scanner"])
    await expect(page.get_by_role("heading", name=re.compile("^工作台"))).to_be_visible()
    await expect(page.get_by_test_id("tile-checkins")).to_have_text(str(today["checked_in"]))
    await expect(page.get_by_test_id("tile-review")).to_have_count(0)
    await check_screen(tab, "scanner-dashboard")
    await page.evaluate("() => localStorage.clear()")
    await tab.open("/admin/checkin")
    await expect(page.get_by_test_id("count-checked")).to_have_text(str(today["checked_in"]))
    await expect(page.get_by_test_id("attendance-export")).to_have_count(0)  # the export is the admin's
    await check_screen(tab, "scanner-checkin")
    await tab.open("/admin/sessions")  # not a scanner's page: back home
    await expect(page.get_by_role("heading", name=re.compile("^工作台"))).to_be_visible()
    await tab.context.close()


