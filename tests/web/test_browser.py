"""The web view in a real Chromium (Debian's, driven by Playwright) against the real app and database.

Each walk follows a flow of the manual as a user would and asserts on what the page shows. Every page
visited is screenshot to var/screenshots/web/, checked by axe-core (no serious or critical issue) and
must log no console error. The tour visits every page at both sizes (1366×768 and 375×812).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import tornado.httpserver
import tornado.testing
import tornado.web
from playwright.async_api import Browser, expect

from server.services.accounts.identity import today_shanghai
from tests.factories import STRONG_PASSWORD, phone, register_trainee, resident_id, uscc
from tests.outbox import last_code, read_outbox
from tests.staff_helpers import XLSX, form_body, sheet_bytes, staff_row
from tests.web.browser import CHROMIUM, DIST, ROOT, Tab, open_tab
from tests.web.screens import Demo, chromium, demo_app, ui_login

pytestmark = pytest.mark.skipif(
    not (DIST / "index.html").is_file() or not CHROMIUM.exists(),
    reason="needs the built web view (make web) and /usr/bin/chromium (deploy/system-deps.sh)",
)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def demo(make_settings: Any, db: Any) -> AsyncIterator[Demo]:
    """Serve the app as ``python -m server --demo`` does, on the test's database."""
    async with demo_app(make_settings, db) as app:
        yield app


def form_item(tab: Tab, label: str) -> Any:
    """The form item whose label is ``label`` (where the API's message for that field is shown)."""
    return tab.page.locator(".t-form__item").filter(has=tab.page.locator("label", has_text=re.compile(f"^{label}$")))


def field_error(tab: Tab, label: str) -> Any:
    """The message shown under the field ``label``."""
    return form_item(tab, label).locator(".t-tips, .t-input__extra")


async def sms_code_from_outbox(outbox: Path, number: str, before: int) -> str:
    """The code sent to ``number`` once the outbox has grown past ``before`` messages."""
    for _ in range(100):
        if len(read_outbox(outbox)) > before:
            return last_code(outbox, number)
        await asyncio.sleep(0.05)
    raise AssertionError("no SMS sent")


async def test_unit_walk_desktop(browser: Browser, demo: Demo) -> None:
    """A unit logs in, finds and opens its staff, adds one, and keeps its invoice and address templates."""
    tab = await open_tab(browser, demo.url, "desktop")
    page = tab.page
    account, password = demo.accounts["unit"]

    await tab.open("/staff")
    await expect(page).to_have_url(re.compile(r"/login\?redirect=(/|%2F)staff"))
    await page.get_by_placeholder("身份证号 / 统一社会信用代码").fill(account)
    await page.get_by_placeholder("请输入密码").fill("Wrong-password-1")
    await page.get_by_role("button", name="登录", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("密码")
    await tab.check("login-error")
    await page.get_by_placeholder("请输入密码").fill(password)
    await page.get_by_role("button", name="登录", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/staff$"))
    await expect(page.get_by_test_id("who")).to_contain_text("单位")

    rows = page.locator(".t-table tbody tr")
    await expect(rows).to_have_count(3)
    first = (await rows.first.locator("td").nth(0).inner_text()).strip()
    masked = (await rows.first.locator("td").nth(1).inner_text()).strip()
    assert "*" in masked and len(masked) == 18, masked  # the ID number is masked in the list
    await tab.check("staff-list")

    await form_item(tab, "姓名").locator("input").fill(first)
    await page.get_by_role("button", name="查询").click()
    await expect(rows).to_have_count(1)
    await page.get_by_role("link", name=first).first.click()
    await expect(page.get_by_role("heading", name="人员详情")).to_be_visible()
    await expect(page.locator(".facts")).to_contain_text(first)
    await expect(page.locator(".facts")).to_contain_text("*")
    await tab.check("staff-detail")
    await page.get_by_role("button", name="编辑").click()
    await form_item(tab, "职务").locator("input").fill("总工程师")
    await expect(form_item(tab, "邮箱").locator("input")).to_have_value("")  # shown masked: typed again
    await page.get_by_role("button", name="保存").click()
    await expect(field_error(tab, "邮箱")).to_be_visible()
    await tab.check("staff-edit-errors")
    await form_item(tab, "邮箱").locator("input").fill("staff@example.com")
    await page.get_by_role("button", name="保存").click()
    await expect(page.get_by_test_id("edit")).to_be_hidden()
    await expect(page.locator(".facts")).to_contain_text("总工程师")
    await expect(page.locator(".facts")).to_contain_text("s***@example.com")

    await page.get_by_role("link", name="返回人员列表").click()
    await page.get_by_role("link", name="单独添加学员").first.click()
    await expect(page.get_by_role("heading", name="单独添加学员")).to_be_visible()
    await page.get_by_role("button", name="保存").click()
    await expect(form_item(tab, "姓名")).to_contain_text("必填项")
    await expect(form_item(tab, "参加工作时间")).to_contain_text("必填项")
    await expect(page.get_by_role("alert")).to_contain_text("请检查标出的字段")
    await tab.check("staff-add-errors")
    await form_item(tab, "姓名").locator("input").fill("王小明")
    await form_item(tab, "证件号码").locator("input").fill(resident_id("19880512"))
    await form_item(tab, "手机号").locator("input").fill(phone())
    await form_item(tab, "邮箱").locator("input").fill("wang@example.com")
    await form_item(tab, "参加工作时间").locator("input").fill("13-2015")
    await form_item(tab, "从事专业").locator("input").fill("岩土工程")
    await form_item(tab, "联系地址").locator("input").fill("上海市浦东新区世纪大道 1 号")
    await page.get_by_role("button", name="保存").click()
    await expect(form_item(tab, "参加工作时间")).not_to_contain_text("必填项")
    await expect(field_error(tab, "参加工作时间")).to_be_visible()
    await form_item(tab, "参加工作时间").locator("input").fill("2015-07")
    await page.get_by_role("button", name="保存").click()
    await expect(page.get_by_test_id("created")).to_contain_text("王小明")
    secret = (await page.get_by_test_id("secret").inner_text()).strip()
    assert len(secret) >= 6
    await tab.check("staff-added")

    # A trainee who registered on their own is bound by exact name and ID number.
    _, trainee = await register_trainee(demo.client, demo.settings.sms_outbox)
    await tab.open("/staff/bind")
    await form_item(tab, "姓名").locator("input").fill(trainee["name"] + "甲")
    await form_item(tab, "身份证号").locator("input").fill(trainee["id_number"])
    await page.get_by_role("button", name="查询并绑定").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await tab.check("staff-bind-error")
    await form_item(tab, "姓名").locator("input").fill(trainee["name"])
    await page.get_by_role("button", name="查询并绑定").click()
    await expect(page.get_by_test_id("bound")).to_contain_text(trainee["name"])
    await tab.check("staff-bound")
    await tab.open("/staff")
    await expect(rows).to_have_count(5)  # the demo's 3, the one added, the one bound
    async with page.expect_download() as exported:
        await page.get_by_role("link", name="导出 Excel").click()
    assert (await exported.value).suggested_filename.endswith(".xlsx")

    # Excel import: the dry run's verdicts row by row, then the commit with the one-time secrets.
    sheet = sheet_bytes([staff_row(name="赵一"), staff_row(name="钱二", phone="12345")])
    await tab.open("/staff/import")
    await page.get_by_test_id("file").set_input_files(
        files=[{"name": "学员.xlsx", "mimeType": XLSX, "buffer": sheet}])
    await page.get_by_role("button", name="上传并预检").click()
    verdicts = page.get_by_test_id("verdicts")
    await expect(verdicts.locator("tbody tr")).to_have_count(2)
    await expect(verdicts.locator("tbody tr").nth(0)).to_contain_text("可导入")
    await expect(verdicts.locator("tbody tr").nth(1)).to_contain_text("有误")
    await expect(verdicts.locator("tbody tr").nth(1)).to_contain_text("手机号：")
    await tab.check("staff-import-dry-run")
    await page.get_by_role("button", name="确认导入 1 人").click()
    done = page.get_by_test_id("committed")
    await expect(done).to_contain_text("已导入 1 人")
    await expect(done.locator("tbody tr")).to_have_count(1)
    await expect(done.locator("tbody tr")).to_contain_text("赵一")
    await tab.check("staff-import-done")
    async with page.expect_download() as result:
        await page.get_by_role("link", name="下载结果表").click()
    assert (await result.value).suggested_filename.endswith(".xlsx")
    await tab.open("/staff")
    await expect(rows).to_have_count(6)

    await tab.open("/templates/invoices")
    await expect(page.get_by_role("heading", name="企业发票管理")).to_be_visible()
    await page.get_by_role("button", name="创建").click()
    await form_item(tab, "发票抬头").locator("input").fill("上海某某勘察设计有限公司")
    await form_item(tab, "纳税人识别号").locator("input").fill(uscc())
    await page.get_by_role("button", name="保存").click()
    await expect(form_item(tab, "接收邮箱")).to_contain_text("邮箱")  # electronic invoices need one
    await tab.check("invoice-errors")
    await form_item(tab, "接收邮箱").locator("input").fill("finance@example.com")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator(".t-table tbody")).to_contain_text("上海某某勘察设计有限公司")
    await expect(page.locator(".t-table tbody")).to_contain_text("电子")
    await tab.check("invoices")

    await tab.open("/templates/addresses")
    await page.get_by_role("button", name="创建").click()
    await form_item(tab, "收件人").locator("input").fill("李四")
    await form_item(tab, "联系电话").locator("input").fill("138")
    await form_item(tab, "所在地区").locator("input").fill("上海市 浦东新区")
    await form_item(tab, "详细地址").locator("input").fill("世纪大道 100 号")
    await page.get_by_role("button", name="保存").click()
    await expect(field_error(tab, "联系电话")).to_be_visible()
    await form_item(tab, "联系电话").locator("input").fill("13800138000")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator(".t-table tbody")).to_contain_text("世纪大道 100 号")
    await tab.check("addresses")

    await page.get_by_role("button", name="退出").click()
    await expect(page).to_have_url(re.compile(r"/login"))
    await tab.open("/staff")
    await expect(page).to_have_url(re.compile(r"/login"))
    await tab.context.close()


async def test_trainee_walk_phone(browser: Browser, demo: Demo) -> None:
    """A trainee on a phone opens the menu, enrolls in an open session and sees the new status."""
    tab = await open_tab(browser, demo.url, "phone")
    page = tab.page
    await ui_login(tab, *demo.accounts["trainee"])
    await expect(page.get_by_test_id("who")).to_be_visible()
    await tab.check("home-trainee")

    await page.get_by_role("button", name="打开菜单").click()
    await expect(page.locator(".t-drawer").get_by_text("学员培训报名")).to_be_visible()
    await tab.check("menu-trainee")
    await page.locator(".t-drawer").get_by_text("学员培训报名").click()
    await expect(page.get_by_role("heading", name="学员培训报名")).to_be_visible()
    cards = page.locator(".card")
    await expect(cards.first).to_be_visible()
    # Each open session shows the trainee's own status on its card, as the API gives it.
    token = (await demo.client.post("/api/v1/auth/login", {"account": demo.accounts["trainee"][0],
                                                          "password": demo.accounts["trainee"][1]})).json["token"]
    sessions = (await demo.client.get("/api/v1/sessions", token=token)).json["items"]
    mine = [s for s in sessions if s["status"] == "published" and s["my_status"]["code"] != "not_applied"]
    assert mine, "the demo trainee has enrollments in open sessions"
    for session in mine:
        await expect(cards.filter(has_text=session["code"]).first).to_contain_text(session["my_status"]["label"])
    # Outside its window a session says why one cannot apply, not 待申请.
    shut = [s for s in sessions if s["my_status"]["code"] == "not_applied" and not s["open_now"]]
    assert {s["status"] for s in shut} == {"published", "closed"}, shut  # the demo has one of each
    for session in shut:
        card = cards.filter(has_text=session["code"]).first
        not_yet = session["status"] == "published" and session["enroll_start"] > today_shanghai().isoformat()
        await expect(card).to_contain_text("未开始报名" if not_yet else "报名已截止")
        await expect(card).not_to_contain_text("待申请")
    # 报名 only where she may apply today (the back office demo's full session, with its waitlist, is one)
    can_apply = [s for s in sessions if s["open_now"] and s["my_status"]["code"] == "not_applied"]
    assert await cards.filter(has=page.get_by_role("button", name="报名")).count() == len(can_apply)
    assert "¥" in await cards.first.inner_text()

    # The rejected enrollment is cancelled elsewhere (the mini-program): the page offers to enroll again, and does.
    enrollments = (await demo.client.get("/api/v1/enrollments", token=token)).json["items"]
    rejected = next(e for e in enrollments if e["status"]["code"] == "rejected")
    assert (await demo.client.post(f"/api/v1/enrollments/{rejected['id']}/cancel", token=token)).status == 200
    await page.reload(wait_until="networkidle")
    enrollable = cards.filter(has=page.get_by_role("button", name="报名"))
    await expect(enrollable).to_have_count(1)
    await expect(enrollable).not_to_contain_text("驳回")
    title = (await enrollable.locator("h2 span").first.inner_text()).strip()
    await enrollable.get_by_role("button", name="报名").click()
    message = page.get_by_test_id("enroll-message")
    await expect(message).to_contain_text(f"已报名：{title}")
    await expect(message).to_contain_text("待缴费")
    await expect(enrollable).to_have_count(0)
    await expect(cards.filter(has_text=title).first).to_contain_text("待缴费")
    await tab.check("sessions-trainee")

    await tab.open("/templates/invoices")
    await expect(page.get_by_role("heading", name="学员发票管理")).to_be_visible()
    await tab.check("invoices-trainee")

    await tab.open("/password")
    await form_item(tab, "当前密码").locator("input").fill("Not-my-password-1")
    await form_item(tab, "新密码").locator("input").fill(STRONG_PASSWORD + "1")
    await page.get_by_role("button", name="保存").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await tab.check("password-error")
    await tab.context.close()


async def test_register_activate_and_forgot_phone(browser: Browser, demo: Demo) -> None:
    """A unit registers with an SMS code; a person it adds sets their own password; a forgotten password is reset."""
    outbox = demo.settings.sms_outbox
    tab = await open_tab(browser, demo.url, "phone")
    page = tab.page
    await tab.open("/register")
    await page.locator(".t-tabs").get_by_text("单位注册", exact=True).click()
    code, number = uscc(), phone()
    await form_item(tab, "单位名称").locator("input").fill("杭州测绘勘察有限公司")
    await form_item(tab, "统一社会信用代码").locator("input").fill(code)
    await form_item(tab, "联系人").locator("input").fill("赵六")
    await form_item(tab, "手机号").locator("input").fill(number)
    sent = len(read_outbox(outbox))
    await page.get_by_role("button", name="获取验证码").click()
    await expect(page.get_by_role("button", name=re.compile("重新发送"))).to_be_visible()
    await form_item(tab, "短信验证码").locator("input").fill(await sms_code_from_outbox(outbox, number, sent))
    await form_item(tab, "密码").locator("input").fill("short")
    await page.get_by_role("button", name="注册并登录").click()
    await expect(field_error(tab, "密码")).to_be_visible()
    await tab.check("register-errors")
    await form_item(tab, "密码").locator("input").fill(STRONG_PASSWORD)
    await page.get_by_role("button", name="注册并登录").click()
    await page.wait_for_url(re.compile(r"/$"))
    await expect(page.get_by_role("heading", name=re.compile("杭州测绘勘察有限公司"))).to_be_visible()
    await tab.check("home-new-unit")

    # The new unit adds a person (through the API, as the desktop walk did through the page).
    login = await demo.client.post("/api/v1/auth/login", {"account": code, "password": STRONG_PASSWORD})
    person_id = resident_id("19920101")
    added = await demo.client.post("/api/v1/unit/staff", {
        "name": "钱七", "id_number": person_id, "phone": phone(), "email": "qian@example.com", "work_start": "2016-07",
        "specialty": "工程测量", "address": "杭州市西湖区 1 号"}, token=login.json["token"])
    assert added.status == 201, added.body
    other = await open_tab(browser, demo.url, "phone")
    await other.open("/activate")
    await other.check("activate")
    await form_item(other, "身份证号").locator("input").fill(person_id)
    await form_item(other, "一次性密码").locator("input").fill("wrong-secret")
    await form_item(other, "新密码").locator("input").fill(STRONG_PASSWORD)
    await other.page.get_by_role("button", name="设置密码并登录").click()
    await expect(other.page.get_by_role("alert")).to_be_visible()
    await form_item(other, "一次性密码").locator("input").fill(added.json["one_time_secret"])
    await other.page.get_by_role("button", name="设置密码并登录").click()
    await other.page.wait_for_url(re.compile(r"/$"))
    await expect(other.page.get_by_role("heading", name="您好，钱七")).to_be_visible()
    await other.context.close()

    anonymous = await open_tab(browser, demo.url, "phone")
    await anonymous.open("/forgot")
    await form_item(anonymous, "账号").locator("input").fill(code)
    await form_item(anonymous, "手机号").locator("input").fill(number)
    sent = len(read_outbox(outbox))
    await anonymous.page.get_by_role("button", name="获取验证码").click()
    await form_item(anonymous, "短信验证码").locator("input").fill(await sms_code_from_outbox(outbox, number, sent))
    await form_item(anonymous, "新密码").locator("input").fill(STRONG_PASSWORD + "2")
    await anonymous.page.get_by_role("button", name="重置密码").click()
    await expect(anonymous.page.get_by_text("密码已重置")).to_be_visible()
    await anonymous.check("forgot-done")
    await anonymous.context.close()

    await tab.open("/staff")  # the reset logged the unit out everywhere, this browser too
    await expect(page).to_have_url(re.compile(r"/login"))
    # SMS login: the code goes to the phone on record.
    await page.locator(".t-tabs").get_by_text("短信验证码登录", exact=True).click()
    await form_item(tab, "账号").locator("input").fill(code)
    await form_item(tab, "手机号").locator("input").fill(number)
    sent = len(read_outbox(outbox))
    await page.get_by_role("button", name="获取验证码").click()
    await form_item(tab, "短信验证码").locator("input").fill(await sms_code_from_outbox(outbox, number, sent))
    await page.get_by_role("button", name="登录", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/staff$"))
    await expect(page.locator(".cards .card")).to_have_count(1)
    await tab.context.close()


async def test_one_time_secret_login_must_set_a_password_first(browser: Browser, demo: Demo) -> None:
    """A password login with the unit's one-time secret is restricted: only the password change, then everything."""
    unit = await demo.client.post("/api/v1/auth/login", {"account": demo.accounts["unit"][0],
                                                         "password": demo.accounts["unit"][1]})
    person_id = resident_id("19930303")
    added = await demo.client.post("/api/v1/unit/staff", {
        "name": "孙八", "id_number": person_id, "phone": phone(), "email": "sun@example.com", "work_start": "2017-07",
        "specialty": "岩土工程", "address": "上海市徐汇区 2 号"}, token=unit.json["token"])
    assert added.status == 201, added.body
    tab = await open_tab(browser, demo.url, "desktop")
    await ui_login(tab, person_id, added.json["one_time_secret"])
    await expect(tab.page).to_have_url(re.compile(r"/password$"))
    await expect(tab.page.get_by_text("一次性密码登录")).to_be_visible()
    await tab.open("/sessions")  # anything else leads back to the password change
    await expect(tab.page).to_have_url(re.compile(r"/password$"))
    await tab.check("password-first-login")
    await form_item(tab, "当前密码").locator("input").fill(added.json["one_time_secret"])
    await form_item(tab, "新密码").locator("input").fill(STRONG_PASSWORD)
    await tab.page.get_by_role("button", name="保存").click()
    await expect(tab.page.get_by_text("密码已修改")).to_be_visible()
    await tab.open("/sessions")
    await expect(tab.page.get_by_role("heading", name="学员培训报名")).to_be_visible()
    await tab.context.close()


PAGES = {
    None: ["/login", "/register", "/forgot", "/activate"],
    "unit": ["/", "/staff", "/enroll", "/staff/new", "/staff/bind", "/staff/import",
             "/templates/addresses", "/templates/invoices",
             "/password",
             "/no/such/page"],
    "trainee": ["/", "/profile", "/sessions", "/templates/addresses", "/templates/invoices", "/password"],
}
PAGES["unit"] += ["/pay", "/payments", "/passes"]  # the payment and pass screens (tests/web/test_pay_screens.py)
PAGES["trainee"] += ["/pay", "/payments", "/my-pass"]
PAGES["unit"] += ["/results", "/staff/photos"]  # results, bulk photos (test_exam_screens.py, test_photo_screens.py)
PAGES["trainee"] += ["/results"]


def shot_name(role: str | None, path: str) -> str:
    slug = path.strip("/").replace("/", "-") or "home"
    return f"tour-{role or 'public'}-{slug}"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_every_page_at_both_sizes(browser: Browser, demo: Demo, viewport: str) -> None:
    """Every page renders at 1366×768 and 375×812 with no accessibility issue, no console error and no overflow."""
    for role, paths in PAGES.items():
        tab = await open_tab(browser, demo.url, viewport)
        if role:
            await ui_login(tab, *demo.accounts[role])
        for path in paths:
            await tab.open(path)
            await expect(tab.page.locator("h1").first).to_be_visible()
            await tab.check(shot_name(role, path))
            overflow = await tab.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} ({viewport}) is {overflow}px wider than the screen"
        if role == "unit":  # a detail page, reached from the list
            await tab.open("/staff")
            link = tab.page.locator("main a[href^='/staff/']").filter(has_not_text="添加").first
            await link.click()
            await expect(tab.page.get_by_role("heading", name="人员详情")).to_be_visible()
            await tab.check(shot_name(role, "/staff/detail"))
        await tab.context.close()


async def test_cross_site_form_post_is_refused_in_the_browser(browser: Browser, demo: Demo) -> None:
    """Another site's page posts a form to the API with the user's cookie: 403 in Chinese, and nothing happens."""
    tab = await open_tab(browser, demo.url, "desktop")
    await ui_login(tab, *demo.accounts["unit"])
    target = demo.url + "/api/v1/auth/logout"
    attacker_page = (f'<!doctype html><html lang="en"><title>win a prize</title><body>'
                     f'<form id="f" method="post" action="{target}"><input name="x" value="1"></form>'
                     '<script>document.getElementById("f").submit()</script></body></html>')

    class Attacker(tornado.web.RequestHandler):
        def get(self) -> None:
            self.finish(attacker_page)

    sock, port = tornado.testing.bind_unused_port()  # another origin on the same host: the cookie is sent
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/", Attacker)]))
    server.add_sockets([sock])
    try:
        answers: list[Any] = []
        tab.page.on("response", lambda response: answers.append(response) if response.url == target else None)
        await tab.page.goto(f"http://127.0.0.1:{port}/")
        await tab.page.wait_for_url(target)
        await expect(tab.page.locator("body")).to_contain_text("其他网站")
        assert answers and answers[0].status == 403
    finally:
        server.stop()
    await tab.open("/staff")  # still logged in: the logout did not happen
    await expect(tab.page).to_have_url(re.compile(r"/staff$"))
    await expect(tab.page.locator(".t-table tbody tr")).to_have_count(3)
    await tab.context.close()


async def test_unit_enrolls_its_staff_with_a_verdict_for_each(browser: Browser, demo: Demo) -> None:
    """企业培训报名: pick an open session and people; every person gets a verdict on the page."""
    # A newcomer added by the unit a moment ago, without an ID photo yet (the demo's staff all have one).
    login = {"account": demo.accounts["unit"][0], "password": demo.accounts["unit"][1]}
    unit = (await demo.client.post("/api/v1/auth/login", login)).json["token"]
    added = await demo.client.post("/api/v1/unit/staff", form_body(name="新同事"), token=unit)
    assert added.status == 201, added.body
    tab = await open_tab(browser, demo.url, "desktop")
    page = tab.page
    await ui_login(tab, *demo.accounts["unit"], path="/login?redirect=/enroll")
    await expect(page.get_by_role("heading", name="企业培训报名")).to_be_visible()
    await page.get_by_role("button", name="提交报名").click()
    await expect(field_error(tab, "班次")).to_be_visible()
    await expect(form_item(tab, re.escape("报名人员（已选 0 人）")).locator(".t-tips")).to_contain_text("至少")
    await tab.check("unit-enroll-errors")
    await form_item(tab, "班次").locator("input").click()
    await page.locator(".t-select-option").filter(has_text="KQ-2026-02").click()
    people = page.locator(".people .t-checkbox")
    await expect(people).to_have_count(4)
    for index in range(4):
        await people.nth(index).click()
    await page.get_by_role("button", name="提交报名").click()
    results = page.get_by_test_id("results")
    await expect(results.locator("li")).to_have_count(4)
    text = await results.inner_text()
    assert "共 4 人" in text
    assert "报名前请先上传证件照" in text  # the newcomer has no photo yet
    assert "已报名此课程" in text  # the demo trainee enrolled herself
    for li in await results.locator("li").all():
        assert re.search(r"报名成功|未报名", await li.inner_text())
    await tab.check("unit-enroll-results")
    await tab.context.close()


async def test_new_trainee_completes_profile_uploads_photo_and_enrolls_phone(browser: Browser, demo: Demo) -> None:
    """The manual's §4 on a phone: fill the profile, upload the ID photo (consent first), then self-enroll."""
    _, trainee = await register_trainee(demo.client, demo.settings.sms_outbox)
    tab = await open_tab(browser, demo.url, "phone")
    page = tab.page
    await ui_login(tab, trainee["id_number"], STRONG_PASSWORD, path="/login?redirect=/sessions")
    enrollable = page.locator(".card").filter(has=page.get_by_role("button", name="报名"))
    await expect(enrollable.first).to_be_visible()
    await enrollable.first.get_by_role("button", name="报名").click()
    await expect(page.get_by_test_id("enroll-message")).to_contain_text("报名未成功")  # no profile, no photo
    await tab.check("sessions-refused")

    await tab.open("/profile")
    await expect(page.get_by_text("必填项尚未填写完整")).to_be_visible()
    number = trainee["id_number"]
    await expect(page.locator("main")).to_contain_text(number[:4] + "*" * (len(number) - 8) + number[-4:])
    assert number not in await page.locator("main").inner_text()  # the ID number is never on screen in full
    await form_item(tab, "参加工作时间").locator("input").fill("2015-7")
    await page.get_by_role("button", name="保存").click()
    await expect(field_error(tab, "参加工作时间")).to_be_visible()
    await form_item(tab, "参加工作时间").locator("input").fill("2015-07")
    await form_item(tab, "从事专业").locator("input").fill("岩土工程")
    await form_item(tab, "联系地址").locator("input").fill("上海市静安区 3 号")
    await page.get_by_role("button", name="保存").click()
    await expect(page.get_by_role("status")).to_contain_text("已保存")

    portrait = ROOT / "tests" / "fixtures" / "photos" / "portrait.jpg"
    await page.get_by_test_id("photo-file").set_input_files(str(portrait))
    await page.get_by_role("button", name="上传证件照").click()
    await expect(page.locator(".photo-form").get_by_role("alert")).to_contain_text("同意")  # consent first
    await page.get_by_text("我同意协会为制作准考证、证书处理我的证件照").click()
    await page.get_by_role("button", name="上传证件照").click()
    image = page.get_by_test_id("photo")
    await expect(image).to_be_visible(timeout=20_000)
    await page.wait_for_function("() => document.querySelector('[data-testid=photo]')?.naturalWidth === 295")
    await tab.check("profile-trainee")

    await tab.open("/sessions")
    await enrollable.first.get_by_role("button", name="报名").click()
    await expect(page.get_by_test_id("enroll-message")).to_contain_text("请先填写物流信息")  # this course mails books

    await tab.open("/templates/addresses")  # the manual's 4.2: 学员物流信息管理
    await page.get_by_role("button", name="创建").click()
    await form_item(tab, "收件人").locator("input").fill(trainee["name"])
    await form_item(tab, "联系电话").locator("input").fill(trainee["phone"])
    await form_item(tab, "所在地区").locator("input").fill("上海市 静安区")
    await form_item(tab, "详细地址").locator("input").fill("南京西路 3 号")
    await page.get_by_text("设为默认", exact=True).last.click()
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator(".card")).to_contain_text("南京西路 3 号")
    await expect(page.locator(".card")).to_contain_text("默认")
    await tab.check("addresses-trainee")

    await tab.open("/sessions")
    await enrollable.first.get_by_role("button", name="报名").click()
    await expect(page.get_by_test_id("enroll-message")).to_contain_text("已报名")
    await tab.check("sessions-enrolled")
    await tab.context.close()
