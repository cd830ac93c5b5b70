"""The web view's first load: the unit portal in headless Chromium, bytes (gzip) and time to interactive.

    python -m bench web

``python -m server`` serves the built web view (``web/dist``; build it first: ``cd web && npx vite build``,
or ``make run`` does). A unit registers through the API; Debian's Chromium (``/usr/bin/chromium``,
driven by Playwright) logs in with the cookie session, then opens each of ``SCREENS`` — ``/`` (the
unit's home in the app shell), ``/staff`` (单位人员管理: TDesign's form and table) and ``/results``
(查看成绩) — as the first page, with an empty cache, ``RUNS`` times, each in a fresh browser context.

Bytes: what went over the wire (Chrome's ``encodedDataLength``: gzip bodies plus headers) per resource
type, from the DevTools protocol; the JavaScript figure is every script of that first screen (the entry,
the vendor chunks, the shell and home pages' chunks). Time to interactive: from navigation start to the
moment the shell has rendered the unit's name and the page its content from the API (the home's
heading, the staff list's count, the results' empty states), read as ``performance.now()`` in the
page; the median of the runs and the slowest.
Goals (issue 14): JavaScript < 300 KB gzip, < 1 s.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import BenchError, Proc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.services.accounts.identity import uscc_check_char  # noqa: E402

DIST = ROOT / "web" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

NAME = "web"
DESCRIPTION = "web view first load of the unit portal in headless Chromium: KB gzip, time to interactive"

RUNS = 5
JS_GOAL_KB = 300
TTI_GOAL_MS = 1000
USCC = "91310000MA1FL0001" + uscc_check_char("91310000MA1FL0001")
PHONE = "13900009999"
PASSWORD = "Bench#Pass-2026"


# (path, what the page shows once it is usable): the home, and the staff list (TDesign's table and form).
SCREENS = (
    ("/", "document.querySelector('h1')?.textContent.includes('您好')"),
    ("/staff", "document.querySelector('.t-table') && document.body.textContent.includes('共 0 人')"),
    ("/results", "document.body.textContent.includes('暂无已发布的成绩') && document.body.textContent.includes('暂无合格证')"),
)


async def _one_load(browser: Any, proc: Proc, path: str, ready: str) -> tuple[dict[str, int], float]:
    """One cold load of ``path`` logged in: bytes per resource type, and ms to interactive."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    try:
        answer = await context.request.post(proc.url("/api/v1/auth/login"), headers={"X-Session": "cookie"},
                                            data={"account": USCC, "password": PASSWORD})
        if answer.status != 200:
            raise BenchError(f"cookie login: {answer.status} {await answer.text()}")
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        kinds: dict[str, str] = {}
        sizes: dict[str, int] = {}

        def on_response(event: dict[str, Any]) -> None:
            kinds[event["requestId"]] = event.get("type", "Other")

        def on_finished(event: dict[str, Any]) -> None:
            kind = kinds.get(event["requestId"], "Other")
            sizes[kind] = sizes.get(kind, 0) + int(event.get("encodedDataLength", 0))

        cdp.on("Network.responseReceived", on_response)
        cdp.on("Network.loadingFinished", on_finished)
        await page.goto(proc.url(path))
        await page.wait_for_function(
            f"() => document.querySelector('[data-testid=who]')?.textContent.includes('单位') && ({ready})",
            polling="raf", timeout=30_000)
        tti = float(await page.evaluate("() => performance.now()"))
        await page.wait_for_load_state("networkidle")
        return sizes, tti
    finally:
        await context.close()


async def _measure(proc: Proc) -> dict[str, list[tuple[dict[str, int], float]]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            found: dict[str, list[tuple[dict[str, int], float]]] = {}
            for path, ready in SCREENS:
                await _one_load(browser, proc, path, ready)  # warm-up: the server's first requests, Chromium's start
                found[path] = [await _one_load(browser, proc, path, ready) for _ in range(RUNS)]
            return found
        finally:
            await browser.close()


def run() -> list[str]:
    """Measure and print against the goals."""
    if not (DIST / "index.html").is_file():
        raise BenchError("web/dist is not built: cd web && npx vite build (or make run)")
    if not CHROMIUM.exists():
        raise BenchError("needs /usr/bin/chromium (deploy/system-deps.sh)")
    with harness.our_server({"LOG_LEVEL": "WARNING"}) as proc:
        harness.register_unit(proc, USCC, PHONE, PASSWORD)
        measured = asyncio.run(_measure(proc))
    lines: list[str] = []
    for path, loads in measured.items():
        js = [sizes.get("Script", 0) / 1024 for sizes, _ in loads]
        total = [sum(sizes.values()) / 1024 for sizes, _ in loads]
        css = [sizes.get("Stylesheet", 0) / 1024 for sizes, _ in loads]
        times = [tti for _, tti in loads]
        lines += [
            harness.goal_line(f"{path} JavaScript (gzip, over the wire)", max(js), "KB", goal=f"< {JS_GOAL_KB}"),
            f"{path} CSS {max(css):.1f} KB, everything (HTML, JS, CSS, fonts, API) {max(total):.1f} KB",
            harness.goal_line(f"{path} time to interactive, median of {RUNS} cold loads", statistics.median(times),
                              "ms", goal=f"< {TTI_GOAL_MS}"),
            f"{path} slowest {max(times):.0f} ms, fastest {min(times):.0f} ms",
        ]
    return [*lines, "(headless Chromium, 1366×768, cache disabled, a fresh context per load)"]
