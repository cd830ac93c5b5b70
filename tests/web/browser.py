"""Helpers of the browser tests: Debian's Chromium through Playwright, axe-core, console errors, screenshots."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "web" / "dist"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots" / "web"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 375, "height": 812}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}

# An API refusal the page shows to the user (401 before login, 403/404/409/422 on a form) is logged by
# Chromium as "Failed to load resource … status of 4xx": expected. Any other console error fails the test.
_HANDLED_REFUSAL = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")


@dataclass
class Tab:
    """A page in a fresh browser context, with its console errors and its viewport's name."""

    context: BrowserContext
    page: Page
    viewport: str
    base_url: str
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str) -> None:
        """Go to ``path`` of the app and wait until the network is idle."""
        await self.page.goto(self.base_url + path, wait_until="networkidle")

    async def settle(self) -> None:
        """Wait until the page's requests are done."""
        await self.page.wait_for_load_state("networkidle")

    async def check(self, name: str) -> None:
        """Screenshot the page as ``name`` and fail on a serious or critical accessibility issue."""
        await self.settle()
        await self.page.mouse.move(0, 0)  # judge the page at rest, not the hover state of the last button clicked
        # Dialogs and messages fade in and out: judge the page once they are still.
        await self.page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{self.viewport}.png"), full_page=True)
        violations = await axe_violations(self.page)
        assert not violations, f"{name} ({self.viewport}): accessibility: {violations}"
        assert not self.errors, f"{name} ({self.viewport}): console errors: {self.errors}"


async def open_tab(browser: Browser, base_url: str, viewport: str) -> Tab:
    """A new context (its own cookies) and page at the given viewport, collecting console errors."""
    context = await browser.new_context(viewport=VIEWPORTS[viewport], locale="zh-CN", timezone_id="Asia/Shanghai")
    page = await context.new_page()
    page.set_default_timeout(10_000)
    tab = Tab(context, page, viewport, base_url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not _HANDLED_REFUSAL.search(message.text):
            tab.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
    return tab


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page (injected through the debugger, not a script tag)."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
    result = await page.evaluate(
        """async () => {
            const r = await window.axe.run(document, {resultTypes: ['violations']});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return list(result)


def demo_accounts(lines: list[str]) -> dict[str, tuple[str, str]]:
    """The demo's printed logins: {"admin"|"scanner"|"reviewer"|"reviewer2"|"trainee"|"unit": (account, password)}."""
    found: dict[str, tuple[str, str]] = {}
    for line in lines:
        match = re.search(r"账号 (\S+)\s+密码 (\S+)", line)
        if not match:
            continue
        kind = ("unit" if "单位" in line else "trainee" if "学员" in line
                else "scanner" if "scanner" in line or "验证员" in line else "admin")
        if "审核员" in line:  # the payment review's demo reviewers (server/demo/review_queue.py)
            kind = "reviewer2" if "reviewer2" in line else "reviewer"
        found.setdefault(kind, (match.group(1), match.group(2)))
    return found
