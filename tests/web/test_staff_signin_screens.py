"""Staff sign-in in a real Chromium against the demo: the 动态验证码 step of the login page, the
authenticator enrolment of a first login, and the re-authentication dialog of admin actions.

Each screen is screenshot and checked by axe (and for overflow) at 1366×768 and at 375 px.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from playwright.async_api import Browser, Route, expect

from server.demo.staff_totp import DEMO_TOTP_SECRET
from server.models.accounts import StaffCreate
from tests.factories import course_body
from tests.totp import next_code
from tests.web.browser import open_tab
from tests.web.screens import Demo, check_screen, chromium, demo_app, ready, ui_login

pytestmark = pytest.mark.skipif(not ready(), reason="needs the built web view (make web) and /usr/bin/chromium")

VIEWPORTS = ["desktop", "phone"]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def demo(make_settings: Any, db: Any) -> AsyncIterator[Demo]:
    """The app with the demo data (its staff enrolled with the demo TOTP secret)."""
    async with demo_app(make_settings, db) as app:
        yield app


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_staff_login_asks_for_the_code_after_the_password(browser: Browser, demo: Demo, viewport: str) -> None:
    tab = await open_tab(browser, demo.url, viewport)
    account, password = demo.accounts["admin"]
    await tab.open("/login")
    await tab.page.get_by_placeholder("身份证号 / 统一社会信用代码").fill(account)
    await tab.page.get_by_placeholder("请输入密码").fill(password)
    await tab.page.get_by_role("button", name="登录", exact=True).click()
    code_field = tab.page.get_by_placeholder("6 位动态验证码")
    await expect(code_field).to_be_visible()
    assert await code_field.get_attribute("autocomplete") == "one-time-code"
    assert await code_field.get_attribute("inputmode") == "numeric"
    assert "/login" in tab.page.url
    await check_screen(tab, "login-totp")
    # A wrong code is told next to the field; the right one logs in.
    right = await next_code(DEMO_TOTP_SECRET, key=(demo.url, DEMO_TOTP_SECRET))
    await code_field.fill(f"{(int(right) + 1) % 1_000_000:06d}")
    await tab.page.get_by_role("button", name="登录", exact=True).click()
    await expect(tab.page.get_by_text("动态验证码错误").first).to_be_visible()
    await code_field.fill(right)
    await tab.page.get_by_role("button", name="登录", exact=True).click()
    await tab.page.wait_for_url(lambda url: "/login" not in url)
    await expect(tab.page.get_by_role("heading", name="工作台")).to_be_visible()  # the staff home
    await tab.context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_first_staff_login_enrols_an_authenticator(browser: Browser, demo: Demo, viewport: str) -> None:
    username, password = f"newdesk{viewport}", "Front#Desk-2026"
    await demo.services.accounts.create_staff(StaffCreate(username=username, role="reviewer", name="新审核员",
                                                          password=password))
    tab = await open_tab(browser, demo.url, viewport)
    await tab.open("/login")
    await tab.page.get_by_placeholder("身份证号 / 统一社会信用代码").fill(username)
    await tab.page.get_by_placeholder("请输入密码").fill(password)
    await tab.page.get_by_role("button", name="登录", exact=True).click()
    await tab.page.wait_for_url(lambda url: url.endswith("/totp-setup"))
    await expect(tab.page.get_by_role("heading", name="绑定身份验证器")).to_be_visible()
    await expect(tab.page.get_by_test_id("totp-qr")).to_be_visible()
    grouped = (await tab.page.get_by_test_id("totp-secret").inner_text()).strip()
    assert all(len(group) == 4 for group in grouped.split(" ")), grouped
    await check_screen(tab, "totp-setup")
    # Any other page sends the half-logged-in staff member back here.
    await tab.open("/")
    await tab.page.wait_for_url(lambda url: url.endswith("/totp-setup"))
    secret = (await tab.page.get_by_test_id("totp-secret").inner_text()).replace(" ", "")
    code = tab.page.get_by_placeholder("6 位动态验证码")
    await code.fill(await next_code(secret))
    await tab.page.get_by_role("button", name="完成绑定并登录").click()
    await tab.page.wait_for_url(lambda url: not url.endswith("/totp-setup"))
    await expect(tab.page.get_by_role("heading", name="工作台")).to_be_visible()  # the staff home
    account = await demo.services.accounts.find_by_login(username)
    assert account["staff"]["totp"]["secret"] and secret not in json.dumps(account, default=str)
    await tab.context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_an_admin_action_after_15_minutes_asks_again_and_goes_through(browser: Browser, demo: Demo,
                                                                            viewport: str) -> None:
    """The token's proof is made 20 minutes old in the database; the next unsafe call meets a real
    403 reauth_required (of a fresh admin endpoint); the dialog asks, /auth/reauth answers, the call is sent again."""
    tab = await open_tab(browser, demo.url, viewport)
    await ui_login(tab, *demo.accounts["admin"])
    tokens = demo.services.db["tokens"]
    admin = await demo.services.accounts.find_by_login(demo.accounts["admin"][0])
    stale = datetime.now(UTC) - timedelta(minutes=20)
    await tokens.update_many({"account_id": admin["_id"], "revoked_at": None}, {"$set": {"authenticated_at": stale}})

    seen: list[str] = []

    async def first_to_a_fresh_endpoint(route: Route) -> None:
        # The page's logout is sent, the first time only, to an admin action that needs a fresh login:
        # the server's own refusal comes back to the page.
        seen.append(route.request.url)
        if len(seen) == 1:
            body = json.dumps(course_body(name="重新验证测试课程"))
            await route.continue_(url=f"{demo.url}/api/v1/admin/courses", post_data=body,
                                  headers={**route.request.headers, "content-type": "application/json"})
        else:
            await route.continue_()

    await tab.page.route("**/api/v1/auth/logout", first_to_a_fresh_endpoint)
    await tab.page.get_by_role("button", name="退出").click()
    dialog = tab.page.locator(".t-dialog").filter(has_text="重新验证身份")
    await expect(dialog.get_by_text("此操作需要重新验证身份")).to_be_visible()
    await dialog.get_by_placeholder("请输入登录密码").fill("Wrong#Pass-2026")
    await dialog.get_by_placeholder("6 位数字").fill("000000")
    await dialog.get_by_role("button", name="验证并继续").click()
    await expect(dialog.get_by_text("密码错误").first).to_be_visible()
    await check_screen(tab, "reauth-dialog")
    await dialog.get_by_placeholder("请输入登录密码").fill(demo.accounts["admin"][1])
    await dialog.get_by_placeholder("6 位数字").fill(await next_code(DEMO_TOTP_SECRET, key=(demo.url, DEMO_TOTP_SECRET)))
    await dialog.get_by_role("button", name="验证并继续").click()
    await tab.page.wait_for_url(lambda url: "/login" in url)  # the retried call (the logout) went through
    assert len(seen) == 2
    assert await demo.services.db["audit_log"].count_documents({"action": "account.reauth"}) == 1
    assert await demo.services.db["courses"].count_documents({"name": "重新验证测试课程"}) == 0  # refused once
    assert pyotp.TOTP(DEMO_TOTP_SECRET).now()  # the demo secret is a valid Base32 TOTP secret
    await tab.context.close()
