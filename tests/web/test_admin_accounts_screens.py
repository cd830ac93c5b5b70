"""协会后台 — accounts, units, audit log, settings, jobs — in a real Chromium against the demo.

Every page at desktop and phone size (axe, console errors, no overflow, screenshot); then an admin's
walk: looks up the demo trainee, disables and re-enables the account, sends a reset SMS (read from the
SMS stand-in's outbox), creates a reviewer, approves the pending unit, rotates the pass key, edits a
notification's wording, retries the dead job, and finds their own actions in the audit log.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from server.demo.admin_queue import PENDING_USCC
from server.demo.trainee import DEMO_ID_NUMBER
from tests.outbox import read_outbox
from tests.web.browser import open_tab
from tests.web.screens import Demo, check_screen, chromium, demo_app, ready, ui_login

pytestmark = pytest.mark.skipif(not ready(), reason="needs the built web view (make web) and /usr/bin/chromium")

PAGES = [
    ("/admin/accounts", "账号管理", "admin-accounts"),
    ("/admin/units", "单位认证审核", "admin-units"),
    ("/admin/audit", "审计日志", "admin-audit"),
    ("/admin/settings", "系统设置", "admin-settings"),
    ("/admin/jobs", "后台任务", "admin-jobs"),
]


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


async def confirm(page: Page, button: str) -> None:
    """Click ``button`` and confirm its popconfirm."""
    await page.get_by_role("button", name=button).click()
    await page.locator(".t-popconfirm").get_by_role("button", name="确定").click()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_every_back_office_page(browser: Browser, demo: Demo, viewport: str) -> None:
    """Each page opens from its URL with its data, passes axe, logs no console error, fits the screen."""
    tab = await open_tab(browser, demo.url, viewport)
    await ui_login(tab, *demo.accounts["admin"], path="/login?redirect=/admin/accounts")
    for path, title, name in PAGES:
        await tab.open(path)
        await expect(tab.page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        await tab.settle()
        if name == "admin-units":
            await expect(tab.page.get_by_text("杭州示例工程咨询有限公司")).to_be_visible()
        if name == "admin-jobs":
            await expect(tab.page.get_by_text("演示：短信网关").first).to_be_visible()
        if name == "admin-settings":
            await expect(tab.page.get_by_test_id("keys-table")).to_contain_text("当前")
        await check_screen(tab, name)
    await tab.context.close()


async def test_admin_walk_accounts_units_keys_jobs_audit(browser: Browser, demo: Demo) -> None:
    """The admin's everyday actions, each from its screen, each checked through the API or the SMS outbox."""
    tab = await open_tab(browser, demo.url, "desktop")
    page = tab.page
    await ui_login(tab, *demo.accounts["admin"], path="/login?redirect=/admin/accounts")
    await expect(page.get_by_role("heading", name="账号管理", exact=True)).to_be_visible()

    # Look up the demo trainee as typed (spaces), masked on screen.
    await page.get_by_test_id("lookup-input").locator("input").fill(f"{DEMO_ID_NUMBER[:6]} {DEMO_ID_NUMBER[6:]}")
    await page.get_by_role("button", name="查找").click()
    result = page.get_by_test_id("lookup-result")
    await expect(result).to_contain_text(DEMO_ID_NUMBER[:4] + "*" * 10 + DEMO_ID_NUMBER[-4:])
    assert DEMO_ID_NUMBER not in await page.content()

    # Disable, then enable.
    await confirm(page, "停用")
    await expect(result).to_contain_text("已停用")
    trainee_login = await demo.client.post("/api/v1/auth/login", {"account": demo.accounts["trainee"][0],
                                                                   "password": demo.accounts["trainee"][1]})
    assert trainee_login.status in (401, 403), trainee_login.body
    await confirm(page, "启用")
    await expect(result).to_contain_text("正常")

    # A reset code to the trainee's phone, shown masked; the SMS went to the phone on record.
    before = len(read_outbox(demo.settings.sms_outbox))
    await confirm(page, "发送重置密码验证码")
    notice = page.get_by_test_id("account-notice")
    await expect(notice).to_contain_text("验证码已发送至")
    sent = read_outbox(demo.settings.sms_outbox)[before:]
    assert [m["purpose"] for m in sent] == ["reset"]
    phone = sent[0]["phone"]
    await expect(notice).to_contain_text(phone[:3] + "****" + phone[-4:])
    assert phone not in await page.content()
    await check_screen(tab, "admin-accounts-found")

    # A new reviewer: pending, no password anywhere on screen.
    await page.get_by_role("button", name="新建工作人员").click()
    dialog = page.locator(".t-dialog")
    for label, value in (("用户名", "zhao.shen"), ("姓名", "赵审"), ("手机号", "13900000077")):
        await dialog.locator(".t-form__item", has_text=label).locator("input").fill(value)
    await dialog.get_by_role("button", name="创建").click()
    table = page.get_by_test_id("staff-table")
    await expect(table).to_contain_text("zhao.shen")
    await expect(table.locator("tr", has_text="zhao.shen")).to_contain_text("未激活")
    await check_screen(tab, "admin-accounts-staff")

    # The pending unit: licence shown, approved.
    await tab.open("/admin/units")
    await page.get_by_role("button", name="审核").first.click()
    image = page.get_by_test_id("licence-image")
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
    await check_screen(tab, "admin-units-review")
    await page.get_by_role("button", name="通过").click()
    await expect(page.get_by_test_id("units-table")).not_to_contain_text(PENDING_USCC)
    admin = await demo.token("admin")
    verified = (await demo.client.get("/api/v1/admin/units?status=verified", token=admin)).json["items"]
    assert PENDING_USCC in [u["uscc"] for u in verified]

    # Rotate the pass key.
    kid_before = (await demo.client.get("/api/v1/admin/pass-keys", token=admin)).json["items"][0]["kid"]
    await tab.open("/admin/settings")
    await confirm(page, "轮换密钥")
    keys = page.get_by_test_id("keys-table")
    # The key cell of the current row reads "<kid>当前": wait for the new kid there (any "2" elsewhere
    # in the row, a date, would pass a looser check before the rotation is done).
    current = keys.locator("tr", has_text="当前").locator("td").first
    await expect(current).to_have_text(re.compile(rf"^\s*{kid_before + 1}\s*当前\s*$"))
    listed = (await demo.client.get("/api/v1/admin/pass-keys", token=admin)).json["items"]
    assert [k["kid"] for k in listed if k["current"]] == [kid_before + 1]

    # Edit a notification's wording, then a placeholder the kind does not have is refused on screen.
    texts = page.get_by_test_id("notification-texts")
    item = texts.locator("article", has_text="单位认证未通过")
    await item.locator("textarea").fill("【协会】营业执照未通过审核：{原因}。请重新上传。")
    await item.get_by_role("button", name="保存").click()
    await expect(item).to_contain_text("已修改")
    stored = (await demo.client.get("/api/v1/admin/notification-texts", token=admin)).json["items"]
    assert next(i for i in stored if i["kind"] == "unit_rejected")["text"] == "【协会】营业执照未通过审核：{原因}。请重新上传。"
    await item.locator("textarea").fill("未通过：{理由}")
    await item.get_by_role("button", name="保存").click()
    await expect(item.get_by_role("alert")).to_contain_text("不支持的占位符")
    await check_screen(tab, "admin-settings-texts")

    # The purge: a dry run first (counts, changes nothing).
    await page.get_by_role("button", name="统计（不修改）").click()
    await expect(page.get_by_test_id("purge-result")).to_contain_text("保存期限")

    # Retry the dead job.
    await tab.open("/admin/jobs")
    row = page.get_by_test_id("jobs-table").locator("tr", has_text="演示任务")
    await row.get_by_role("button", name="重试").click()
    await expect(page.get_by_test_id("jobs-table")).not_to_contain_text("演示任务")
    jobs = (await demo.client.get("/api/v1/admin/jobs?kind=demo_task", token=admin)).json["items"]
    assert [j["status"] for j in jobs] == ["queued"]

    # The audit log has it all; a click on an action filters by it, and the filter is in the URL.
    await tab.open("/admin/audit")
    table = page.get_by_test_id("audit-table")
    for action in ("account.disable", "account.enable", "account.password_reset_sent", "account.create_staff",
                   "pass_key.rotate", "job.retry"):
        await expect(table).to_contain_text(action)
    await table.get_by_role("button", name="pass_key.rotate").first.click()
    await page.wait_for_url(lambda url: "action=pass_key.rotate" in url)
    await expect(page.get_by_text("共 1 条")).to_be_visible()
    await page.reload()  # the filter sticks
    await expect(page.get_by_text("共 1 条")).to_be_visible()
    await check_screen(tab, "admin-audit-filtered")
    await tab.context.close()
