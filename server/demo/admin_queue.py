"""Demo data of the back office's accounts screens (issue 15, H2): a unit waiting for verification, a dead job.

``python -m server --demo`` then shows something on 单位认证审核 (a licence to look at, approve or
reject) and on 后台任务 (an error to read and a retry button).
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

from PIL import Image, ImageDraw

from server.models.accounts import UnitRegister
from server.services import Principal
from server.services.accounts.sms import SmsPurpose
from server.services.container import Services

LOCAL = "127.0.0.1"
PENDING_USCC = "91330100MA2K00001W"
PENDING_PHONE = "13900000021"
DEMO_JOB_KIND = "demo_task"  # no runner handles it: it stays where the demo leaves it


def licence_image() -> bytes:
    """A plain stand-in for a business licence (a frame, a title bar, text lines)."""
    image = Image.new("RGB", (900, 620), (250, 246, 236))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 880, 600), outline=(160, 40, 40), width=6)
    draw.rectangle((300, 50, 600, 100), fill=(200, 60, 60))
    for y in range(160, 560, 48):
        draw.line((90, y, 810, y), fill=(120, 120, 120), width=3)
    draw.ellipse((640, 400, 800, 560), outline=(210, 30, 30), width=6)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def demo_admin_queue(services: Services) -> list[str]:
    """A second unit whose licence waits for review; a job that failed for good."""
    await services.sms_codes.send(PENDING_PHONE, SmsPurpose.register, ip=LOCAL)
    lines = services.settings.sms_outbox.read_text(encoding="utf-8").splitlines()
    code = [json.loads(line) for line in lines if PENDING_PHONE in line][-1]["code"]
    await services.accounts.register_unit(UnitRegister(
        name="杭州示例工程咨询有限公司", uscc=PENDING_USCC, contact_name="周工", phone=PENDING_PHONE,
        password="Pending#Unit-2026", sms_code=code), ip=LOCAL)
    unit_doc = await services.accounts.find_by_login(PENDING_USCC)
    assert unit_doc is not None
    await services.unit_verification.upload(Principal(unit_doc["_id"], "unit"), licence_image(), ip=LOCAL)
    job_id = await services.jobs.enqueue(DEMO_JOB_KIND, {"note": "demo"}, max_attempts=1)
    job = await services.jobs.claim("demo", [DEMO_JOB_KIND], timedelta(minutes=1))
    assert job is not None and job["_id"] == job_id
    await services.jobs.fail(job, "demo", "TimeoutError: 演示：短信网关 30 秒无响应")
    return ["  后台演示 / back office: 1 家单位待认证审核，1 个失败的后台任务"]
