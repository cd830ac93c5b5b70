"""The payment and pass screens of the web view, in Debian's Chromium against the real app and database.

A unit pays for its staff (企业报名缴费), a reviewer approves through the API, and the unit downloads
the passes (报名成功记录: one, all of a session, and the background job with its progress). A trainee
pays again after a rejection and sees the pass QR on screen, decoded here from the screenshot. Both
walks run at 1366×768 and 375×812; every page is screenshot and checked by axe-core.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Download, expect

from server.demo import load_demo
from server.demo.payments import DEMO_ACCOUNT
from server.demo.screenshots import render_transfer_screenshot
from server.services.container import Services
from tests.client import ApiClient
from tests.conftest import serve_app
from tests.web.browser import CHROMIUM, DIST, Tab, demo_accounts, open_tab
from tests.web.screens import api_login, chromium

pytestmark = pytest.mark.skipif(
    not (DIST / "index.html").is_file() or not CHROMIUM.exists(),
    reason="needs the built web view (make web) and /usr/bin/chromium (deploy/system-deps.sh)",
)

VIEWPORTS = ["desktop", "phone"]
KQ_FEE = "¥2,600.00"  # the demo's KQ session (server/demo/catalog.py)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with chromium() as launched:
        yield launched


class Demo:
    """The app with the demo data (``make run``'s) and the built web view, on a free port."""

    def __init__(self, client: ApiClient, lines: list[str], services: Services) -> None:
        self.client = client
        self.services = services
        self.url = client.base_url
        self.accounts = demo_accounts(lines)  # admin, scanner, unit, trainee

    async def jobs_idle(self) -> None:
        """Wait until the job runner (two at a time) has read the proofs (OCR), so a new job starts at once."""
        for _ in range(600):
            if not await self.services.db["jobs"].count_documents({"status": {"$in": ["queued", "running"]}}):
                return
            await asyncio.sleep(0.25)
        raise AssertionError("the job runner is still busy")

    async def api_as(self, role: str) -> ApiClient:
        """A bearer-token client logged in as the demo account of ``role``."""
        account, password = self.accounts[role]
        answer = await api_login(self.client, account, password)  # staff: with the demo's 动态验证码
        assert answer.status == 200, answer.json
        return self.client.with_token(answer.json["token"])


@pytest.fixture
async def demo(make_settings: Any, db: Any) -> AsyncIterator[Demo]:
    """Serve the app as ``python -m server --demo`` does (job runner included), on the test's database."""
    from server.services.container import build_services

    settings = make_settings(web_dist=DIST)
    services: Services = build_services(settings, db)
    services.runner.start()
    try:
        lines = await load_demo(services)
        assert lines
        async with serve_app(settings, services) as client:
            yield Demo(client, lines, services)
    finally:
        await services.close()


@pytest.fixture
def proof(tmp_path: Path) -> Path:
    """A transfer screenshot as a payer would upload it."""
    path = tmp_path / "转账截图.jpg"
    path.write_bytes(render_transfer_screenshot(
        layout="wechat", amount_fen=520000, payee_name=DEMO_ACCOUNT.account_name,
        payee_account=DEMO_ACCOUNT.account_number, remark="DEMO", paid_at=datetime.now(UTC)))
    return path


async def ui_login(tab: Tab, role: str, demo: Demo, path: str) -> None:
    """Log in through the login page, landing on ``path``."""
    account, password = demo.accounts[role]
    await tab.open(f"/login?redirect={path}")
    await tab.page.get_by_placeholder("身份证号 / 统一社会信用代码").fill(account)
    await tab.page.get_by_placeholder("请输入密码").fill(password)
    await tab.page.get_by_role("button", name="登录", exact=True).click()
    await tab.page.wait_for_url(lambda url: "/login" not in url)
    await tab.settle()


def field(tab: Tab, label: str) -> Any:
    """The form item labelled ``label`` (where the API's message for that field is shown)."""
    return tab.page.locator(".t-form__item").filter(has=tab.page.locator("label", has_text=re.compile(f"^{label}")))


def proofs_error(tab: Tab) -> Any:
    """The message under the proof upload field."""
    return field(tab, "缴费凭证截图").locator(".t-tips, .t-input__extra")


async def pdf_of(download: Download) -> bytes:
    """The downloaded file's bytes, checked to be a PDF."""
    path = await download.path()
    data = Path(path).read_bytes()
    assert data.startswith(b"%PDF-"), data[:20]
    return data


def pages_of(pdf: bytes) -> int:
    """Pages of a PDF (counted from its page objects)."""
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


async def no_overflow(tab: Tab) -> None:
    """The page is not wider than the screen (tables became cards or scroll inside)."""
    overflow = await tab.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{tab.page.url} ({tab.viewport}) is {overflow}px wider than the screen"


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_unit_pays_for_staff_reviewer_approves_unit_downloads_passes(
        browser: Browser, demo: Demo, proof: Path, tmp_path: Path, viewport: str) -> None:
    """企业报名缴费 → 缴费记录 → approval by a reviewer (API) → 报名成功记录 with the pass PDFs."""
    tab = await open_tab(browser, demo.url, viewport)
    page = tab.page
    await ui_login(tab, "unit", demo, "/pay")
    await expect(page.get_by_role("heading", name="企业报名缴费")).to_be_visible()
    group = page.get_by_role("region", name=re.compile("KQ-"))
    await expect(group.locator(".people li")).to_have_count(2)  # the demo's two staff waiting to pay
    await expect(group).to_contain_text("待缴费")
    await expect(page.get_by_test_id("pay-panel")).to_have_count(0)  # nothing ticked, nothing to pay
    await tab.check("pay-unit")
    await no_overflow(tab)

    await group.locator(".session .t-checkbox").click()  # the whole session
    panel = page.get_by_test_id("pay-panel")
    await expect(panel.get_by_test_id("amount")).to_have_text("¥5,200.00")  # computed by the server
    await expect(panel.get_by_test_id("account")).to_contain_text(DEMO_ACCOUNT.account_name)
    await expect(panel.get_by_test_id("account")).to_contain_text(DEMO_ACCOUNT.account_number)
    reference = (await panel.get_by_test_id("reference").inner_text()).strip()
    assert re.fullmatch(r"[0-9A-Z]{6,12}", reference), reference
    await expect(panel.get_by_role("combobox").or_(panel.locator(".t-select input")).first).to_be_visible()

    await panel.get_by_role("button", name="提交缴费").click()  # no screenshot yet
    await expect(proofs_error(tab)).to_contain_text("请上传")
    title = field(tab, "发票抬头").locator("input")
    await expect(title).to_have_value("上海示例勘察设计有限公司")  # the default template, filled in
    await title.fill("")
    fake = tmp_path / "凭证.jpg"
    fake.write_bytes(b"%PDF-1.4\n% not a picture\n" + b"0" * 2000)
    await panel.get_by_test_id("proofs-input").set_input_files(str(fake))
    await panel.get_by_role("button", name="提交缴费").click()
    await expect(field(tab, "发票抬头").locator(".t-tips, .t-input__extra")).to_contain_text("必填")  # the API's 422
    await title.fill("上海示例勘察设计有限公司")  # the template's values again: the template is sent
    await panel.get_by_role("button", name="提交缴费").click()
    await expect(proofs_error(tab)).to_contain_text("JPEG")  # the API's 415, next to the field
    await tab.check("pay-unit-errors")
    await panel.get_by_role("button", name="移除").click()
    await panel.get_by_test_id("proofs-input").set_input_files(str(proof))
    await expect(panel.locator(".files img")).to_have_count(1)
    await tab.check("pay-unit-form")
    await panel.get_by_role("button", name="提交缴费").click()
    await expect(page.get_by_test_id("paid")).to_contain_text(reference)
    await expect(page.get_by_test_id("nothing-to-pay")).to_be_visible()

    await page.get_by_role("link", name="查看缴费记录").click()
    await expect(page.get_by_role("heading", name="缴费记录")).to_be_visible()
    cards = page.get_by_test_id("payment")
    # the new one, and the demo's waiting, approved, finished-course, waiting-for-results and back office
    # (today's session, full session) ones
    await expect(cards).to_have_count(7)
    mine = cards.filter(has_text=reference)
    await expect(mine).to_contain_text("待审核")
    await expect(mine).to_contain_text("¥5,200.00")
    await expect(mine.locator(".proofs img")).to_have_count(1)
    invoiced = cards.filter(has=page.get_by_test_id("invoice"))
    async with page.expect_download() as invoice_download:
        await invoiced.get_by_role("link", name="下载电子发票").click()
    await pdf_of(await invoice_download.value)
    await tab.check("payments-unit")
    await no_overflow(tab)

    admin = await demo.api_as("admin")
    queue = (await admin.get("/api/v1/review/payments")).json["items"]
    [payment] = [p for p in queue if p["reference"] == reference]
    assert payment["amount_fen"] == 520000
    approved = await admin.post(f"/api/v1/review/payments/{payment['id']}/approve")
    assert approved.status == 200, approved.json

    await tab.open("/payments")
    await expect(cards.filter(has_text=reference)).to_contain_text("已通过")
    await expect(cards.filter(has_text=reference).get_by_test_id("review")).to_have_text("审核通过")
    # The OCR reading of the unit's own screenshot, once the job has read it (for reference only). The
    # one OCR process reads in turn: the demo's review queue (server/demo/review_queue.py) has ten ahead.
    for _ in range(3000):
        if (await admin.get(f"/api/v1/payments/{payment['id']}")).json["ocr"]["status"] != "pending":
            break
        await asyncio.sleep(0.1)
    await tab.open("/payments")
    await expect(cards.filter(has_text=reference)).to_contain_text("识别结果（仅供参考）")

    await tab.open("/passes")
    await expect(page.get_by_role("heading", name="报名成功记录")).to_be_visible()
    kq = page.get_by_test_id("pass-session").filter(has_text="KQ-")
    await expect(kq.locator(".people li")).to_have_count(2)
    await tab.check("passes-unit")
    await no_overflow(tab)
    async with page.expect_download() as one:
        await kq.locator(".people li").first.get_by_role("link").click()
    assert pages_of(await pdf_of(await one.value)) == 1
    async with page.expect_download() as everyone:
        await kq.get_by_test_id("all-passes").click()
    assert pages_of(await pdf_of(await everyone.value)) == 2
    await demo.jobs_idle()
    await kq.get_by_role("button", name=re.compile("后台生成")).click()
    job = kq.get_by_test_id("pass-job")
    await expect(job.get_by_test_id("job-file")).to_be_visible(timeout=30_000)
    await expect(job).to_contain_text("2 / 2")
    async with page.expect_download() as built:
        await job.get_by_test_id("job-file").click()
    assert pages_of(await pdf_of(await built.value)) == 2
    await tab.check("passes-unit-job")
    await tab.context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_trainee_pays_again_after_rejection_and_sees_the_pass_qr(
        browser: Browser, demo: Demo, proof: Path, viewport: str) -> None:
    """缴费记录 shows the rejection and its reason; 重新缴费 pays; 我的听课证 shows a QR that decodes to the pass."""
    tab = await open_tab(browser, demo.url, viewport)
    page = tab.page
    await ui_login(tab, "trainee", demo, "/payments")
    await expect(page.get_by_role("heading", name="缴费记录")).to_be_visible()
    rejected = page.get_by_test_id("payment").filter(has_text="已驳回")
    await expect(rejected.get_by_test_id("review")).to_contain_text("截图金额比应缴金额少 200.00 元")
    await tab.check("payments-trainee")
    await no_overflow(tab)

    await rejected.get_by_role("link", name="重新缴费").click()
    await expect(page.get_by_role("heading", name="学员报名缴费")).to_be_visible()
    await expect(page.get_by_role("region", name=re.compile("KQ-")).locator(".people li")).to_contain_text("驳回原因")
    panel = page.get_by_test_id("pay-panel")  # the rejected enrollment is ticked already
    await expect(panel.get_by_test_id("amount")).to_have_text(KQ_FEE)
    await panel.get_by_test_id("proofs-input").set_input_files(str(proof))
    await tab.check("pay-trainee")
    await no_overflow(tab)
    await panel.get_by_role("button", name="提交缴费").click()
    await expect(page.get_by_test_id("paid")).to_contain_text(KQ_FEE)
    await expect(page.get_by_test_id("approved")).to_contain_text("YT-")  # 听课证 on the same page (manual §4.5)
    await expect(page.get_by_test_id("approved").get_by_role("link", name="下载听课证")).to_have_count(1)
    await tab.open("/payments")
    await expect(page.get_by_test_id("payment")).to_have_count(2)
    await expect(page.get_by_test_id("payment").first).to_contain_text("待审核")
    await expect(page.get_by_role("link", name="重新缴费")).to_have_count(0)  # paid again: no second offer

    trainee = await demo.api_as("trainee")
    approved = [e for e in (await trainee.get("/api/v1/enrollments?page_size=100")).json["items"]
                if e["status"]["code"] == "approved"]
    assert len(approved) == 1
    token = (await trainee.get(f"/api/v1/enrollments/{approved[0]['id']}/pass")).json["token"]
    await tab.open("/my-pass")
    await expect(page.get_by_role("heading", name="我的听课证")).to_be_visible()
    qr = page.get_by_test_id("pass-qr")
    await expect(qr).to_be_visible()
    await tab.check("my-pass-trainee")
    await no_overflow(tab)
    shot = Image.open(io.BytesIO(await qr.screenshot()))
    decoded = [b.text for b in zxingcpp.read_barcodes(shot) if b.format == zxingcpp.BarcodeFormat.QRCode]
    assert decoded == [token]
    async with page.expect_download() as download:
        await page.get_by_test_id("pass-pdf").click()
    assert pages_of(await pdf_of(await download.value)) == 1
    await tab.context.close()
