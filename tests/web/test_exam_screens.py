"""考试管理-查看成绩 in a real Chromium against the demo: results, certificates, downloads (one, all of a session).

The demo has a finished session whose results are published for three of the demo unit's staff (the demo
trainee first) and two certificates, the second revoked. What the pages must show is read from the API.
Both the unit and the trainee see them; each page is screenshot and checked by axe at both sizes.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.web.browser import open_tab
from tests.web.screens import Demo, check_screen, chromium, demo_app, ready, ui_login

pytestmark = pytest.mark.skipif(not ready(), reason="needs the built web view (make web) and /usr/bin/chromium")

COURSE = "勘察安全生产管理专项培训"


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


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_unit_results_certificates_and_bundle(browser: Browser, demo: Demo, viewport: str, tmp_path: Path) -> None:
    """The unit sees its staff's published results and certificates, downloads one, then all of the session."""
    tab = await open_tab(browser, demo.url, viewport)
    page = tab.page
    await ui_login(tab, *demo.accounts["unit"], path="/login?redirect=/results")
    await expect(page.get_by_role("heading", name="查看成绩")).to_be_visible()
    await expect(page.get_by_role("heading", name="本单位人员成绩")).to_be_visible()

    token = await demo.token("unit")
    published = (await demo.client.get("/api/v1/results", token=token)).json["items"]
    assert {r["verdict"] for r in published} >= {"passed", "failed"}, published  # the demo has both
    results = page.get_by_test_id("result-cards" if viewport == "phone" else "results")
    for result in published:
        await expect(results).to_contain_text(f"{result['score']} 分")
    await expect(results).to_contain_text(COURSE)
    text = await results.inner_text()
    failed = sum(r["verdict"] == "failed" for r in published)
    passed = sum(r["verdict"] == "passed" for r in published)
    assert text.count("不合格") == failed and text.count("合格") == passed + failed, text  # 合格 is inside 不合格 too
    certificates = page.get_by_test_id("certificates")
    await expect(certificates).to_contain_text("有效")
    await expect(certificates).to_contain_text("已撤销")
    issued = (await demo.client.get("/api/v1/certificates", token=token)).json["items"]
    revoked = next(c for c in issued if c["status"] == "revoked")
    await expect(certificates).to_contain_text(revoked["revoke_reason"])
    downloads = certificates.get_by_role("link", name=re.compile("^下载合格证"))
    await expect(downloads).to_have_count(1)  # the revoked one cannot be downloaded
    await check_screen(tab, "results-unit")

    async with page.expect_download() as info:
        await downloads.first.click()
    pdf = Path(await (await info.value).path())
    assert pdf.read_bytes()[:5] == b"%PDF-"

    # All certificates of the session at once: a job with its progress, then the file.
    picker = page.get_by_test_id("session")
    await picker.select_option(await picker.locator("option", has_text=COURSE).get_attribute("value"))
    await tab.settle()
    await expect(page.get_by_role("button", name="下载本班次全部合格证")).to_be_enabled()
    await page.get_by_role("button", name="下载本班次全部合格证").click()
    bundle = page.get_by_test_id("bundle")
    # The job waits behind the demo's own (the OCR of four payment screenshots, ~30 s on a busy machine).
    await expect(bundle.get_by_role("status")).to_contain_text("已生成 1 份合格证", timeout=150_000)
    await expect(bundle.locator(".t-progress")).to_contain_text("1/1")
    await check_screen(tab, "results-unit-bundle")
    async with page.expect_download() as info:
        await bundle.get_by_role("link", name=re.compile("下载文件")).click()
    with zipfile.ZipFile(await (await info.value).path()) as archive:
        names = archive.namelist()
        assert len(names) == 1 and names[0].endswith(".pdf"), names
        assert archive.read(names[0])[:5] == b"%PDF-"
    await tab.context.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_trainee_results_and_certificate(browser: Browser, demo: Demo, viewport: str) -> None:
    """The demo trainee sees their own result and downloads their valid certificate; no one else's."""
    tab = await open_tab(browser, demo.url, viewport)
    page = tab.page
    await ui_login(tab, *demo.accounts["trainee"])
    if viewport == "phone":
        await page.get_by_role("button", name="打开菜单").click()
        await page.locator(".t-drawer").get_by_text("查看成绩").click()
    else:
        await page.get_by_role("navigation", name="主菜单").get_by_text("查看成绩").click()  # submenus start open
    await expect(page).to_have_url(re.compile(r"/results$"))
    await expect(page.get_by_role("heading", name="我的成绩")).to_be_visible()
    results = page.get_by_test_id("result-cards" if viewport == "phone" else "results")
    await expect(results).to_contain_text(COURSE)
    mine = (await demo.client.get("/api/v1/results", token=await demo.token("trainee"))).json["items"]
    assert len(mine) == 1, mine
    await expect(results).to_contain_text(f"{mine[0]['score']} 分")
    await expect(results).to_contain_text(mine[0]["verdict_label"])
    others = (await demo.client.get("/api/v1/results", token=await demo.token("unit"))).json["items"]
    for other in others:
        if other["trainee_id"] != mine[0]["trainee_id"]:
            assert other["name"] not in await results.inner_text()  # only their own

    certificates = page.get_by_test_id("certificates")
    await expect(certificates.get_by_role("heading", name="学员合格证下载")).to_be_visible()
    await expect(certificates).to_contain_text("有效")
    await expect(certificates).not_to_contain_text("已撤销")
    await expect(certificates).to_contain_text("8 学时")
    assert await page.get_by_role("button", name="下载本班次全部合格证").count() == 0  # units only
    await check_screen(tab, "results-trainee")
    link = certificates.get_by_role("link", name=re.compile("^下载合格证"))
    await expect(link).to_have_count(1)
    answer = await tab.context.request.get(demo.url + str(await link.get_attribute("href")))
    assert answer.status == 200 and (await answer.body())[:5] == b"%PDF-"
    await tab.context.close()


async def test_results_empty_for_a_new_unit(browser: Browser, demo: Demo) -> None:
    """A unit without published results sees the empty states, not someone else's certificates."""
    from tests.factories import STRONG_PASSWORD, register_unit

    _, unit = await register_unit(demo.client, demo.settings.sms_outbox)
    tab = await open_tab(browser, demo.url, "desktop")
    await ui_login(tab, unit["uscc"], STRONG_PASSWORD, path="/login?redirect=/results")
    await expect(tab.page.get_by_test_id("results")).to_contain_text("暂无已发布的成绩")
    await expect(tab.page.get_by_test_id("certificates")).to_contain_text("暂无合格证")
    await expect(tab.page.get_by_test_id("session")).to_have_count(0)
    await check_screen(tab, "results-empty")
    await tab.context.close()
