"""Back office 成绩管理 / 成绩导入 / 合格证管理 in a real Chromium against the demo.

The demo has a finished session ready for result entry (server/demo/results_entry.py: two approved
trainees of the demo unit, no result yet). An admin imports its results from an Excel file built here
(a bad row first: the check shows it and nothing can be imported; fixed: imported as drafts), publishes
them and approves the certificates; one certificate is revoked and the public verification page says
已撤销. Another walk enters scores in the grid with the keyboard and corrects a published one with a
reason. The API confirms each step; each page is screenshot and checked by axe at both sizes.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import openpyxl
import pytest
from playwright.async_api import Browser, Page, expect

from server.demo.results_entry import COURSE
from server.demo.staff import DEMO_STAFF
from server.demo.trainee import DEMO_ID_NUMBER
from tests.web.browser import open_tab
from tests.web.screens import Demo, check_screen, chromium, demo_app, ready, ui_login

pytestmark = pytest.mark.skipif(not ready(), reason="needs the built web view (make web) and /usr/bin/chromium")

ID_NUMBERS = {name: id_number for name, id_number, _, _ in DEMO_STAFF} | {"陈静": DEMO_ID_NUMBER}
PAGES = ("/admin/results", "/admin/results/import", "/admin/certificates")


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


async def _entry_session(demo: Demo, token: str) -> str:
    """The demo's session ready for result entry."""
    page = (await demo.client.get(f"/api/v1/admin/sessions?q={quote(COURSE.name)}", token=token)).json
    assert page["total"] == 1, page
    return str(page["items"][0]["id"])


async def _roster(demo: Demo, token: str, sid: str) -> dict[str, Any]:
    answer = await demo.client.get(f"/api/v1/review/sessions/{sid}/results", token=token)
    assert answer.status == 200, answer.body
    return dict(answer.json)


def _sheet(rows: list[tuple[str, str, int | str | None, str | None]], path: Path) -> Path:
    """An import sheet with the template's header (身份证号* · 姓名 · 成绩 · 缺考)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["身份证号*", "姓名", "成绩", "缺考"])
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


async def _choose(page: Page, path: Path) -> None:
    await page.get_by_test_id("file").set_input_files(str(path))
    await page.get_by_role("button", name="上传并检查").click()


async def test_admin_imports_publishes_certifies_and_revokes(browser: Browser, demo: Demo, tmp_path: Path) -> None:
    """Import with a bad row → fix → commit → publish → batch approval → revoke → the verify page says 已撤销."""
    token = await demo.token("admin")
    sid = await _entry_session(demo, token)
    names = [r["name"] for r in (await _roster(demo, token, sid))["rows"]]
    assert len(names) == 2 and all(n in ID_NUMBERS for n in names), names
    tab = await open_tab(browser, demo.url, "desktop")
    page = tab.page
    await ui_login(tab, *demo.accounts["admin"], path="/login?redirect=" + quote(f"/admin/results/import?session={sid}"))
    await expect(page.get_by_role("heading", name="成绩导入")).to_be_visible()
    await expect(page.get_by_role("link", name="下载导入模板")).to_have_attribute(
        "href", f"/api/v1/review/sessions/{sid}/results/template.xlsx")

    # A bad row first: the check shows it, and nothing can be imported.
    bad = _sheet([(ID_NUMBERS[names[0]], names[0], 120, None), (ID_NUMBERS[names[1]], names[1], 75, None)],
                 tmp_path / "bad.xlsx")
    await _choose(page, bad)
    verdicts = page.get_by_test_id("verdicts")
    await expect(verdicts).to_contain_text("有误 1 行")
    await expect(verdicts).to_contain_text("成绩有误")
    await expect(verdicts).to_contain_text("0–100 的整数")
    await expect(page.get_by_role("button", name=re.compile("^确认导入"))).to_be_disabled()
    async with page.expect_download() as info:
        await page.get_by_role("button", name="下载检查结果表").click()
    download = await info.value
    assert download.suggested_filename.endswith(".xlsx"), download.suggested_filename
    checked = openpyxl.load_workbook(io.BytesIO(Path(await download.path()).read_bytes()))
    assert "成绩有误" in str([c.value for row in checked.worksheets[0].iter_rows() for c in row])
    assert (await _roster(demo, token, sid))["drafts"] == 0  # the check wrote nothing
    await check_screen(tab, "admin-results-import-check")

    # Fixed: every row can be imported; committed as drafts.
    good = _sheet([(ID_NUMBERS[names[0]], names[0], 88, None), (ID_NUMBERS[names[1]], names[1], 75, None)],
                  tmp_path / "good.xlsx")
    await _choose(page, good)
    await expect(verdicts).to_contain_text("有误 0 行")
    await page.get_by_role("button", name="确认导入 2 行").click()
    await expect(verdicts).to_contain_text("已导入 2 名学员的成绩（草稿）")
    roster = await _roster(demo, token, sid)
    assert roster["drafts"] == 2 and roster["published"] == 0
    assert [(r["result"]["score"], r["result"]["verdict"]) for r in roster["rows"]] == [(88, "passed"), (75, "passed")]

    # Publish, after a confirmation.
    await page.get_by_role("button", name="发布成绩").click()
    await page.get_by_role("button", name="确认发布").click()
    await expect(page.get_by_test_id("published")).to_contain_text("已发布 2 人：合格 2，不合格 0，缺考 0")
    roster = await _roster(demo, token, sid)
    assert roster["published"] == 2 and roster["drafts"] == 0
    await check_screen(tab, "admin-results-import-done")

    # Batch approval of the certificates (the session is kept from the import page).
    await verdicts.get_by_role("link", name="合格证管理").click()
    await expect(page.get_by_role("heading", name="合格证管理")).to_be_visible()
    await expect(page.get_by_test_id("session")).to_have_value(sid)
    await page.get_by_role("button", name="批量审核发证").click()
    await page.get_by_role("button", name="确认发证").click()
    await expect(page.get_by_test_id("issued")).to_contain_text("本次签发 2 份")
    issued = (await demo.client.get(f"/api/v1/certificates?session_id={sid}", token=token)).json["items"]
    assert sorted(c["status"] for c in issued) == ["valid", "valid"]
    listing = page.get_by_test_id("certificates")
    for certificate in issued:
        await expect(listing).to_contain_text(certificate["number"])
    await check_screen(tab, "admin-certificates-issued")

    # One PDF.
    first, second = sorted(issued, key=lambda c: c["number"])
    async with page.expect_download() as info:
        await page.get_by_role("link", name=f"下载合格证 {first['number']}").click()
    assert Path(await (await info.value).path()).read_bytes()[:5] == b"%PDF-"

    # Revoke the second with a reason.
    await page.get_by_role("button", name=f"撤销合格证 {second['number']}").click()
    await page.get_by_role("button", name="确认撤销").click()
    await expect(page.get_by_role("alert")).to_contain_text("请填写撤销原因")  # the reason is required
    await page.get_by_label("撤销原因（必填）").fill("成绩复核更正（测试）")
    await page.get_by_role("button", name="确认撤销").click()
    await expect(listing).to_contain_text("成绩复核更正（测试）")
    answer = (await demo.client.get(f"/api/v1/certificates?session_id={sid}", token=token)).json["items"]
    assert {c["number"]: c["status"] for c in answer} == {first["number"]: "valid", second["number"]: "revoked"}

    # The session's certificates at once (the bundle job): the valid one only.
    await page.get_by_role("button", name="下载本班次全部合格证").click()
    link = page.get_by_test_id("bundle").get_by_role("link", name=re.compile("下载文件"))
    await expect(link).to_be_visible(timeout=150_000)  # the job runner may still be busy with the demo's OCR jobs
    async with page.expect_download() as info:
        await link.click()
    archive = zipfile.ZipFile(io.BytesIO(Path(await (await info.value).path()).read_bytes()))
    assert [n.split("-")[:3] for n in archive.namelist()] == [first["number"].split("-")]
    await check_screen(tab, "admin-certificates-revoked")

    # The public verification page of the revoked one.
    verify = await open_tab(browser, demo.url, "phone")
    await verify.open("/verify/" + second["verify_url"].rsplit("/", 1)[1])
    await expect(verify.page.locator("body")).to_contain_text("已撤销")
    await verify.context.close()
    await tab.context.close()


async def test_score_grid_with_the_keyboard_and_a_correction(browser: Browser, demo: Demo) -> None:
    """Enter / ↓ move down and save, 缺考 by Tab and Space; the filter sticks; a published score is
    corrected only with a reason."""
    token = await demo.token("admin")
    sid = await _entry_session(demo, token)
    tab = await open_tab(browser, demo.url, "desktop")
    page = tab.page
    await ui_login(tab, *demo.accounts["admin"], path="/login?redirect=" + quote(f"/admin/results?session={sid}"))
    await expect(page.get_by_role("heading", name="成绩管理")).to_be_visible()
    grid = page.get_by_test_id("grid")
    scores = grid.locator("input.score")
    first, second = scores.nth(0), scores.nth(1)
    await first.click()
    await page.keyboard.type("30")
    await page.keyboard.press("ArrowDown")  # saves, next row
    await expect(second).to_be_focused()
    await expect(page.get_by_test_id("state-0")).to_contain_text("已保存")
    await expect(page.get_by_test_id("row-0")).to_contain_text("不合格")
    await page.keyboard.type("95")
    await page.keyboard.press("Enter")  # saves (the last row: stays)
    await expect(page.get_by_test_id("state-1")).to_contain_text("已保存")
    await expect(page.get_by_test_id("row-1")).to_contain_text("合格")
    await page.keyboard.press("ArrowUp")
    await expect(first).to_be_focused()
    await page.keyboard.press("Tab")  # to 缺考
    await page.keyboard.press("Space")
    await expect(first).to_be_disabled()
    await expect(page.get_by_test_id("row-0")).to_contain_text("缺考")
    await expect(page.get_by_test_id("state-0")).to_contain_text("已保存")
    for _ in range(50):  # the checkbox's save may still be on its way
        roster = await _roster(demo, token, sid)
        shown = [(r["result"]["score"], r["result"]["verdict"], r["result"]["status"]) for r in roster["rows"]]
        if shown[0][1] == "absent":
            break
        await asyncio.sleep(0.1)
    assert shown == [(None, "absent", "draft"), (95, "passed", "draft")]
    await check_screen(tab, "admin-results-grid-drafts")

    # A bad score is refused on the row, not saved.
    await second.fill("101")
    await second.press("Enter")
    await expect(page.get_by_test_id("state-1")).to_contain_text("0–100 的整数")
    assert (await _roster(demo, token, sid))["rows"][1]["result"]["score"] == 95
    await second.fill("95")
    await second.press("Tab")

    # The session sticks: in localStorage when the URL has none.
    await tab.open("/admin/results")
    await expect(page.get_by_test_id("session")).to_have_value(sid)
    assert f"session={sid}" in page.url

    await page.get_by_role("button", name="发布成绩").click()
    await page.get_by_role("button", name="确认发布").click()
    await expect(page.get_by_test_id("published")).to_contain_text("已发布 2 人")
    # The grid has reloaded (the summary holds the publish message too, so its text alone proves nothing).
    for row in ("row-0", "row-1"):
        await expect(page.get_by_test_id(row)).to_contain_text("已发布")

    # A correction after publishing asks for a reason.
    await second.fill("58")
    await second.press("Enter")
    dialog = page.locator(".t-dialog").filter(has_text="更正已发布的成绩")
    await expect(dialog).to_contain_text("95 分 → 58 分")
    await dialog.get_by_role("button", name="确认更正").click()
    await expect(dialog).to_contain_text("请填写更正原因")
    await dialog.get_by_label("更正原因（必填，记入审计日志）").fill("复核试卷发现漏判（测试）")
    await dialog.get_by_role("button", name="确认更正").click()
    await expect(page.get_by_test_id("state-1")).to_contain_text("已保存")
    await expect(page.get_by_test_id("row-1")).to_contain_text("不合格")
    corrected = (await _roster(demo, token, sid))["rows"][1]["result"]
    assert (corrected["score"], corrected["verdict"], corrected["status"]) == (58, "failed", "published")
    await check_screen(tab, "admin-results-grid-published")
    await tab.context.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_each_page_at_both_sizes(browser: Browser, demo: Demo, viewport: str) -> None:
    """成绩管理, 成绩导入 and 合格证管理 (the demo's finished session with certificates, one revoked)."""
    token = await demo.token("admin")
    sid = await _entry_session(demo, token)
    tab = await open_tab(browser, demo.url, viewport)
    page = tab.page
    await ui_login(tab, *demo.accounts["admin"], path="/login?redirect=" + quote(f"/admin/results?session={sid}"))
    await expect(page.get_by_test_id("grid")).to_contain_text("2/2 天")
    await check_screen(tab, "admin-results")
    await tab.open(f"/admin/results/import?session={sid}")
    await expect(page.get_by_role("heading", name="成绩导入")).to_be_visible()
    await check_screen(tab, "admin-results-import")
    await tab.open("/admin/certificates?session=")
    certificates = page.get_by_test_id("certificates")
    await expect(certificates).to_contain_text("已撤销")
    await expect(certificates).to_contain_text("有效")
    await check_screen(tab, "admin-certificates")
    # The demo's finished session again: nothing new to issue, and who is skipped, and why.
    picker = page.get_by_test_id("session")
    await picker.select_option(await picker.locator("option", has_text="勘察安全生产管理专项培训").get_attribute("value"))
    await page.get_by_role("button", name="批量审核发证").click()
    await page.get_by_role("button", name="确认发证").click()
    await expect(page.get_by_test_id("issued")).to_contain_text("本次签发 0 份")
    await expect(page.get_by_test_id("skipped")).to_contain_text("出勤 1/2 天（50%），低于本课程发证要求的 100%")
    await check_screen(tab, "admin-certificates-skipped")
    await tab.context.close()
