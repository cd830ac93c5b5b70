"""Shared set-up of the exam and photo screen tests: Chromium (optionally with a fake camera), the demo app, login."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.async_api import Browser, async_playwright

from server.config import Settings
from server.demo import load_demo
from server.demo.staff_totp import DEMO_TOTP_SECRET
from tests.client import ApiClient, Response
from tests.conftest import serve_app
from tests.totp import next_code
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, DIST, ROOT, Tab, demo_accounts

PORTRAIT = ROOT / "tests" / "fixtures" / "photos" / "portrait.jpg"
NO_FACE = ROOT / "tests" / "fixtures" / "photos" / "no_face.jpg"
# Chromium's fake camera: a synthetic picture (no face) unless a file is given.
FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


class Demo:
    """The app with the demo data and the built web view, on a free port."""

    def __init__(self, client: ApiClient, accounts: dict[str, tuple[str, str]], settings: Settings,
                 services: Any = None) -> None:
        self.client = client
        self.url = client.base_url
        self.accounts = accounts
        self.settings = settings
        self.services = services  # the app's services (set-up a page cannot do, e.g. a new staff account)

    async def token(self, kind: str) -> str:
        """A bearer token of the demo's ``unit``, ``trainee`` or staff (``admin``, ``scanner``…: with the
        demo's second factor) for set-up through the API."""
        account, password = self.accounts[kind]
        answer = await api_login(self.client, account, password)
        assert answer.status == 200, answer.body
        return str(answer.json["token"])


async def api_login(client: ApiClient, account: str, password: str, *,
                    totp_secret: str = DEMO_TOTP_SECRET, headers: dict[str, str] | None = None) -> Response:
    """Log in through the API as a person would: with the 动态验证码 of ``totp_secret`` when asked for one."""
    body = {"account": account, "password": password}
    answer = await client.post("/api/v1/auth/login", body, headers=headers)
    if answer.error_code == "totp_required":
        code = await next_code(totp_secret, key=(client.base_url, totp_secret))
        answer = await client.post("/api/v1/auth/login", {**body, "totp_code": code}, headers=headers)
    return answer


@contextlib.asynccontextmanager
async def chromium(extra_args: list[str] | None = None) -> AsyncIterator[Browser]:
    """Debian's headless Chromium, with ``extra_args`` (e.g. the fake camera)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + (extra_args or []), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@contextlib.asynccontextmanager
async def demo_app(make_settings: Callable[..., Settings], db: Any) -> AsyncIterator[Demo]:
    """Serve the app as ``python -m server --demo`` does, on the test's database."""
    from server.services.container import build_services

    settings = make_settings(web_dist=DIST)
    services = build_services(settings, db)
    services.runner.start()
    try:
        lines = await load_demo(services)
        assert lines
        async with serve_app(settings, services) as client:
            yield Demo(client, demo_accounts(lines), settings, services)
    finally:
        await services.close()


def ready() -> bool:
    """The built web view and Chromium are there."""
    return (DIST / "index.html").is_file() and CHROMIUM.exists()


async def ui_login(tab: Tab, account: str, password: str, *, path: str = "/login",
                   totp_secret: str = DEMO_TOTP_SECRET) -> None:
    """Log in through the login page (to ``path``'s redirect); a staff member types the 动态验证码
    (of ``totp_secret``, the demo staff's by default) when the page asks for it."""
    await tab.open(path)
    await tab.page.get_by_placeholder("身份证号 / 统一社会信用代码").fill(account)
    await tab.page.get_by_placeholder("请输入密码").fill(password)
    await tab.page.get_by_role("button", name="登录", exact=True).click()
    await tab.page.wait_for_function(
        "() => !location.pathname.startsWith('/login') || document.querySelector(`input[placeholder='6 位动态验证码']`)")
    if "/login" in tab.page.url:
        code = await next_code(totp_secret, key=(tab.base_url, totp_secret))
        await tab.page.get_by_placeholder("6 位动态验证码").fill(code)
        await tab.page.get_by_role("button", name="登录", exact=True).click()
        await tab.page.wait_for_url(lambda url: "/login" not in url)
    await tab.settle()


def y4m_of(photo: Path, target: Path, *, width: int = 640, height: int = 480) -> Path:
    """One-frame Y4M (4:2:0) of ``photo`` centred on a grey ``width``×``height`` canvas, for the fake camera."""
    image = Image.open(photo).convert("RGB")
    image.thumbnail((width, height))
    canvas = Image.new("RGB", (width, height), (200, 200, 200))
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    half = (width // 2, height // 2)
    out = io.BytesIO()
    out.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
    out.write(b"FRAME\n" + y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes())
    target.write_bytes(out.getvalue())
    return target


async def check_screen(tab: Tab, name: str) -> None:
    """``tab.check`` (screenshot, axe, console errors), and no horizontal overflow at the tab's size."""
    await tab.check(name)
    overflow = await tab.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name} ({tab.viewport}) is {overflow}px wider than the screen"
