"""Photos in a real Chromium: a unit's bulk ZIP (progress, per-file verdicts) and the trainee's webcam.

The webcam runs on Chromium's fake camera: its own synthetic picture (no face: the server refuses it, and
the page says why in Chinese), or a Y4M made from the repo's test portrait (the server crops it to
295×413 and the page shows the result). A browser without a camera offers the file upload only.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.factories import phone, resident_id
from tests.web.browser import open_tab
from tests.web.screens import FAKE_CAMERA_ARGS, NO_FACE, PORTRAIT, Demo, check_screen, chromium, demo_app, ready, ui_login, y4m_of

pytestmark = pytest.mark.skipif(not ready(), reason="needs the built web view (make web) and /usr/bin/chromium")

BAD_NAMES = 18  # with the four named files: 22 > 20, so the upload runs as a background job


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium without a camera."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def demo(make_settings: Any, db: Any) -> AsyncIterator[Demo]:
    """The app with the demo data."""
    async with demo_app(make_settings, db) as app:
        yield app


async def add_staff(demo: Demo, token: str, name: str) -> str:
    """A new person of the demo unit (through the API); their ID number."""
    number = resident_id("19880512")
    added = await demo.client.post("/api/v1/unit/staff", {
        "name": name, "id_number": number, "phone": phone(), "email": "staff@example.com", "work_start": "2012-07",
        "specialty": "岩土工程", "address": "上海市静安区示例路 1 号"}, token=token)
    assert added.status == 201, added.body
    return number


def zip_of(files: dict[str, bytes]) -> bytes:
    """A ZIP of ``files`` (name → content)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return out.getvalue()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_bulk_photos_zip(browser: Browser, demo: Demo, viewport: str, tmp_path: Path) -> None:
    """A broken ZIP is refused with a message; consent is asked for; a ZIP of 22 files runs with a progress bar."""
    token = await demo.token("unit")
    zhang, li = await add_staff(demo, token, "张三"), await add_staff(demo, token, "李四")
    tab = await open_tab(browser, demo.url, viewport)
    page = tab.page
    await ui_login(tab, *demo.accounts["unit"], path="/login?redirect=/staff/photos")
    await expect(page.get_by_role("heading", name="批量上传照片")).to_be_visible()
    await expect(page.get_by_role("button", name="上传照片")).to_be_disabled()
    await check_screen(tab, "staff-photos")

    broken = tmp_path / "坏文件.zip"
    broken.write_bytes(b"this is not a zip archive")
    await page.get_by_test_id("zip").set_input_files(str(broken))
    await page.get_by_role("button", name="上传照片").click()
    await expect(page.get_by_role("alert")).to_contain_text(re.compile("ZIP|压缩"))
    await expect(page.get_by_test_id("photo-batch")).to_have_count(0)
    await check_screen(tab, "staff-photos-error")

    # Without the unit's consent a person's first photo is not stored.
    small = tmp_path / "one.zip"
    small.write_bytes(zip_of({f"张三-{zhang}.jpg": PORTRAIT.read_bytes()}))
    await page.get_by_test_id("zip").set_input_files(str(small))
    await page.get_by_role("button", name="上传照片").click()
    batch = page.get_by_test_id("photo-batch")
    await expect(batch).to_contain_text("未确认同意")
    await expect(batch).to_contain_text("已保存 0 个")

    files = {
        f"张三-{zhang}.jpg": PORTRAIT.read_bytes(),
        f"李四-{li}.jpg": NO_FACE.read_bytes(),
        f"王五-{resident_id('19700101')}.jpg": PORTRAIT.read_bytes(),
        f"张三-{zhang}.png": b"\x89PNG not really",
        **{f"照片{n:02d}.jpg": b"\xff\xd8 tiny" for n in range(BAD_NAMES)},
    }
    full = tmp_path / "staff-photos.zip"
    full.write_bytes(zip_of(files))
    await page.get_by_text("本单位确认：").click()
    await expect(page.get_by_role("checkbox")).to_be_checked()
    await page.get_by_test_id("zip").set_input_files(str(full))
    await page.get_by_role("button", name="上传照片").click()
    # A job: it may wait behind the demo's own (the OCR of four payment screenshots).
    await expect(batch.get_by_role("status")).to_contain_text("处理完成：共 22 个文件，已保存 1 个", timeout=150_000)
    await expect(batch.locator(".t-progress")).to_contain_text("22/22")
    await expect(batch).to_contain_text(f"文件名有误 {BAD_NAMES} 个")
    for verdict in ("已保存", "未检测到人脸", "非本单位人员", "格式不支持"):
        await expect(batch.get_by_text(verdict, exact=True).first).to_be_visible()
    await expect(batch).to_contain_text("本单位人员中没有该身份证号")
    text = await batch.inner_text()
    assert zhang not in text and li not in text, "file names show ID numbers masked"
    await check_screen(tab, "staff-photos-done")

    await tab.open("/staff")
    person = page.locator(".card, .t-table tbody tr").filter(has_text="张三")
    await expect(person).to_contain_text("已上传")
    await expect(page.locator(".card, .t-table tbody tr").filter(has_text="李四")).to_contain_text("未上传")
    await tab.context.close()


async def test_no_camera_falls_back_to_file(browser: Browser, demo: Demo) -> None:
    """Without a camera the profile offers the file upload only, and says so."""
    for viewport in ("desktop", "phone"):
        tab = await open_tab(browser, demo.url, viewport)
        await ui_login(tab, *demo.accounts["trainee"], path="/login?redirect=/profile")
        await expect(tab.page.get_by_test_id("no-camera")).to_contain_text("未检测到摄像头")
        await expect(tab.page.get_by_role("button", name="使用摄像头拍照")).to_have_count(0)
        await expect(tab.page.get_by_test_id("photo-file")).to_be_visible()
        await check_screen(tab, "profile-no-camera")
        await tab.context.close()


async def test_webcam_capture_is_cropped(demo: Demo, tmp_path: Path) -> None:
    """The fake camera shows the test portrait: the shot is uploaded, the server crops it to 295×413."""
    video = y4m_of(PORTRAIT, tmp_path / "portrait.y4m")
    async with chromium([*FAKE_CAMERA_ARGS, f"--use-file-for-fake-video-capture={video}"]) as camera_browser:
        for viewport in ("desktop", "phone"):
            tab = await open_tab(camera_browser, demo.url, viewport)
            page = tab.page
            await ui_login(tab, *demo.accounts["trainee"], path="/login?redirect=/profile")
            await page.get_by_role("button", name="使用摄像头拍照").click()
            await expect(page.locator("video")).to_be_visible()
            await page.wait_for_function("() => document.querySelector('video').videoWidth > 0")
            await expect(page.get_by_text("正对镜头，脸部放在虚线框内")).to_be_visible()
            await check_screen(tab, "profile-webcam")
            await page.get_by_test_id("shoot").click()
            await expect(page.get_by_test_id("cropped")).to_contain_text("295×413", timeout=30_000)
            photo = page.get_by_test_id("photo")
            await expect(photo).to_be_visible()
            await page.wait_for_function("() => document.querySelector('[data-testid=photo]')?.naturalWidth > 0")
            size = await photo.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert size == [295, 413], size
            await expect(page.locator("video")).to_be_hidden()  # the camera is off again
            await check_screen(tab, "profile-webcam-saved")
            await tab.context.close()


async def test_webcam_without_a_face_is_refused(demo: Demo) -> None:
    """Chromium's own fake picture has no face: the server refuses it and the page says why in Chinese."""
    async with chromium(FAKE_CAMERA_ARGS) as camera_browser:
        tab = await open_tab(camera_browser, demo.url, "phone")
        page = tab.page
        await ui_login(tab, *demo.accounts["trainee"], path="/login?redirect=/profile")
        before = await page.get_by_test_id("photo").get_attribute("src")
        await page.get_by_role("button", name="使用摄像头拍照").click()
        await page.wait_for_function("() => document.querySelector('video').videoWidth > 0")
        await page.get_by_test_id("shoot").click()
        await expect(page.get_by_role("alert")).to_contain_text("人脸", timeout=30_000)
        await expect(page.get_by_test_id("cropped")).to_have_count(0)
        assert await page.get_by_test_id("photo").get_attribute("src") == before  # the old photo stays
        await check_screen(tab, "profile-webcam-refused")
        await tab.context.close()
