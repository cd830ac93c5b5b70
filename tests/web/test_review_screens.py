"""The back office's payment review (缴费审核) in Debian's Chromium, against the demo app and a real database.

A reviewer works through ten payments with the keyboard only (the time from each decision to the
next payment on screen is measured, printed and saved to var/review-timing.json); two reviewers
decide the same payment in two browser contexts and the late one sees the conflict; an administrator
records an invoice with its e-invoice PDF, which the payer then downloads. Every state of the page is
checked (axe-core, console errors, screenshot, no overflow) at 1366×768 and 375×812.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page, expect

from server.documents.invoice_pdf import render_demo_invoice
from tests.client import ApiClient
from tests.web.browser import ROOT, Tab, open_tab
from tests.web.screens import Demo, check_screen, chromium, demo_app, ready, ui_login

pytestmark = pytest.mark.skipif(not ready(), reason="needs the built web view and /usr/bin/chromium")

PAGE = "/review/payments"
TIMING = ROOT / "var" / "review-timing.json"
GOAL_MS = 300.0
# Which of the ten decisions reject, and with which reason key (1-based, as the dialog numbers them).
REJECT_KEYS = {2: "1", 5: "3", 8: "4"}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def demo(make_settings: Any, db: Any) -> AsyncIterator[Demo]:
    """The demo app (with its review queue: server/demo/review_queue.py)."""
    async with demo_app(make_settings, db) as app:
        yield app


async def api_as(demo: Demo, kind: str) -> ApiClient:
    """An API client with the bearer token of the demo's ``kind`` account."""
    return demo.client.with_token(await demo.token(kind))


async def waiting(api: ApiClient) -> list[dict[str, Any]]:
    """The review queue, oldest first (the OCR pre-check may still be reading some: it runs in the background)."""
    page = await api.get("/api/v1/review/payments?page_size=100")
    assert page.status == 200, page.body
    return list(page.json["items"])


async def reviewer_tab(browser: Browser, demo: Demo, kind: str, viewport: str = "desktop", path: str = PAGE) -> Tab:
    """A fresh browser context logged in as the demo's ``kind`` on the review page."""
    tab = await open_tab(browser, demo.url, viewport)
    account, password = demo.accounts[kind]
    await ui_login(tab, account, password, path=f"/login?redirect={quote(path)}")
    await tab.page.wait_for_url(f"**{path.split('?')[0]}**")
    await expect(tab.page.get_by_test_id("detail")).to_be_visible()
    await tab.settle()
    return tab


async def shown_reference(page: Page) -> str:
    return (await page.get_by_test_id("reference").inner_text()).strip()


async def test_a_reviewer_works_through_ten_payments_with_the_keyboard(browser: Browser, demo: Demo) -> None:
    admin = await api_as(demo, "admin")
    assert len(await waiting(admin)) >= 11, "the demo queue needs more than ten waiting payments"
    tab = await reviewer_tab(browser, demo, "reviewer")
    page = tab.page
    try:
        await check_screen(tab, "review-queue")
        await page.keyboard.press("?")
        await expect(page.get_by_test_id("shortcuts")).to_be_visible()
        await check_screen(tab, "review-shortcuts")
        await page.keyboard.press("Escape")
        await expect(page.get_by_test_id("shortcuts")).to_be_hidden()
        # Zoom and rotate from the keyboard move the proof picture.
        for key in ("+", "+", "]"):
            await page.keyboard.press(key)
        style = await page.get_by_test_id("proof").get_attribute("style") or ""
        assert "scale(1.5)" in style and "rotate(90deg)" in style, style
        await page.keyboard.press("0")

        expected: dict[str, tuple[str, str | None]] = {}
        reasons = (await admin.get("/api/v1/review/payments/reasons")).json["items"]
        for i in range(10):
            reference = await shown_reference(page)
            if i in REJECT_KEYS:
                await page.keyboard.press("r")
                await expect(page.get_by_test_id("reject-form")).to_be_visible()
                await page.keyboard.press(REJECT_KEYS[i])
                await page.keyboard.press("Enter")
                expected[reference] = ("rejected", reasons[int(REJECT_KEYS[i]) - 1]["code"])
            else:
                await page.keyboard.press("a")
                expected[reference] = ("approved", None)
            await expect(page.get_by_test_id("reference")).not_to_have_text(reference)
            # As a reviewer would: the next decision once the next payment's picture is on screen.
            await page.wait_for_function(f"() => (window.__reviewTimings || []).length >= {i + 1}")
        # Each next payment is measured once its proof picture is on screen; all answers are in.
        await page.wait_for_function("() => (window.__reviewTimings || []).length >= 10")
        await expect(page.get_by_text("处理中")).to_have_count(0)
        await expect(page.get_by_test_id("conflict")).to_have_count(0)
        await expect(page.get_by_test_id("queue-count")).to_contain_text("本次已处理 10 笔")
        timings = [t["ms"] for t in await page.evaluate("() => window.__reviewTimings")][:10]
        await check_screen(tab, "review-after-ten")
    finally:
        await tab.context.close()

    decided = (await admin.get("/api/v1/review/payments?status=all&page_size=100")).json["items"]
    by_reference = {p["reference"]: p for p in decided}
    for reference, (decision, reason_code) in expected.items():
        review = by_reference[reference]["review"]
        assert review is not None and review["decision"] == decision, (reference, review)
        assert review["reason_code"] == reason_code
        assert review["reviewer_name"] == "审核员 张敏"
    report_timing(timings)


def report_timing(timings: list[float]) -> None:
    """Print p50/p99 of decision → next payment shown, save them to var/, flag a miss of the goal."""
    ordered = sorted(timings)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    verdict = "ok" if p99 < GOAL_MS else "MISSED"
    TIMING.parent.mkdir(parents=True, exist_ok=True)
    TIMING.write_text(json.dumps({
        "what": "payment review: decision key → next payment shown (its proof picture loaded), Chromium, demo app",
        "items": len(timings), "p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "goal_ms": GOAL_MS,
        "verdict": verdict, "timings_ms": [round(t, 1) for t in timings], "date": date.today().isoformat(),
    }, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\npayment review, per item: p50 {p50:.1f} ms, p99 {p99:.1f} ms (goal < {GOAL_MS:.0f} ms) {verdict}")
    # Loosely: a loaded shared machine may miss the goal by a little; ten times over is a real regression.
    assert p99 < 10 * GOAL_MS, f"p99 {p99:.0f} ms"


async def test_two_reviewers_decide_the_same_payment_and_the_late_one_sees_the_conflict(
    browser: Browser, demo: Demo
) -> None:
    admin = await api_as(demo, "admin")
    first = (await waiting(admin))[0]
    one = await reviewer_tab(browser, demo, "reviewer")
    two = await reviewer_tab(browser, demo, "reviewer2")
    try:
        for tab in (one, two):
            await expect(tab.page.get_by_test_id("reference")).to_have_text(first["reference"])
        await one.page.keyboard.press("a")
        await expect(one.page.get_by_test_id("queue-count")).to_contain_text("本次已处理 1 笔")
        await two.page.keyboard.press("r")
        await two.page.keyboard.press("2")
        await two.page.keyboard.press("Enter")
        notice = two.page.get_by_test_id("conflict")
        await expect(notice).to_contain_text(f"缴费 {first['reference']}：该缴费已由 审核员 张敏 于")
        await expect(notice).to_contain_text("处理为 审核通过")
        # Nothing lost: the payment is back in the list, refreshed, and 查看 shows who decided.
        await notice.get_by_role("button", name="查看").click()
        await expect(two.page.get_by_test_id("status")).to_have_text("已通过")
        await expect(two.page.get_by_test_id("decision")).to_contain_text("审核员 张敏")
        await check_screen(two, "review-conflict")
    finally:
        await one.context.close()
        await two.context.close()
    after = await admin.get(f"/api/v1/payments/{first['id']}")
    assert after.json["status"] == "approved" and after.json["review"]["reviewer_name"] == "审核员 张敏"


async def test_an_admin_records_an_invoice_with_its_pdf_and_the_payer_downloads_it(
    browser: Browser, demo: Demo, tmp_path: Any
) -> None:
    admin, unit = await api_as(demo, "admin"), await api_as(demo, "unit")
    mine = (await unit.get("/api/v1/payments?page_size=20")).json["items"]
    payment = next(p for p in mine if p["status"] == "submitted")
    assert (await admin.post(f"/api/v1/review/payments/{payment['id']}/approve")).status == 200
    _, _, pdf = render_demo_invoice(number="31002600000012345", issued_on=date.today(), buyer="上海示例勘察设计有限公司",
                                    item="培训费", amount_fen=payment["amount_fen"])
    pdf_path = tmp_path / "电子发票.pdf"
    pdf_path.write_bytes(pdf)
    for viewport in ("desktop", "phone"):
        tab = await reviewer_tab(browser, demo, "admin", viewport, path=f"{PAGE}?status=approved")
        page = tab.page
        try:
            await page.get_by_role("button", name=payment["reference"]).click()
            await expect(page.get_by_test_id("reference")).to_have_text(payment["reference"])
            await check_screen(tab, "review-approved")
            if viewport == "desktop":
                await page.get_by_test_id("invoice-number").fill("31002600000012345")
                await page.get_by_test_id("invoice-file").set_input_files(str(pdf_path))
                await page.get_by_role("button", name="保存发票").click()
                await expect(page.get_by_test_id("invoice-message")).to_contain_text("发票已登记")
                await expect(page.get_by_test_id("invoice-issue")).to_contain_text("31002600000012345")
                await check_screen(tab, "review-invoice")
                # The exports are reachable from the screen: the period's payments, the session's mailing list.
                await page.get_by_text("导出", exact=True).click()
                href = await page.get_by_test_id("export-payments").get_attribute("href")
                answer = await page.request.get(demo.url + str(href))
                assert answer.status == 200 and "spreadsheetml" in answer.headers["content-type"]
                await page.get_by_test_id("filter-session").select_option(index=1)
                href = await page.get_by_test_id("export-logistics").get_attribute("href")
                answer = await page.request.get(demo.url + str(href))
                assert answer.status == 200 and "spreadsheetml" in answer.headers["content-type"]
                await page.get_by_test_id("filter-session").select_option("")
                # The filter sticks: the page opened again without a query keeps 已通过 (localStorage → URL).
                await tab.open(PAGE)
                await page.wait_for_url("**status=approved**")
                await expect(page.get_by_test_id("filter-status")).to_have_value("approved")
            else:
                await page.keyboard.press("?")
                await check_screen(tab, "review-shortcuts")
        finally:
            await tab.context.close()
    downloaded = await unit.get(f"/api/v1/payments/{payment['id']}/invoice.pdf")
    assert downloaded.status == 200 and downloaded.body == pdf
    issue = (await unit.get(f"/api/v1/payments/{payment['id']}/invoice")).json
    assert issue["number"] == "31002600000012345" and issue["has_file"] is True


async def test_the_review_page_at_phone_size_and_refused_to_others(browser: Browser, demo: Demo) -> None:
    tab = await reviewer_tab(browser, demo, "reviewer", "phone")
    try:
        await check_screen(tab, "review-queue")
        await tab.page.keyboard.press("r")
        await expect(tab.page.get_by_test_id("reject-form")).to_be_visible()
        await tab.page.keyboard.press("Enter")  # no reason picked: said so, nothing sent
        await expect(tab.page.get_by_test_id("reject-form").get_by_role("alert")).to_contain_text("请选择驳回原因")
        await check_screen(tab, "review-reject")
    finally:
        await tab.context.close()
    # The API refuses the queue to a payer (the screen's menu only hides it).
    unit = await api_as(demo, "unit")
    assert (await unit.get("/api/v1/review/payments")).status == 403
