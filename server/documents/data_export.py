"""The person's data export (PIPL): one ZIP with ``data.json`` and their images.

Pure: data in → ``(filename, content_type, bytes)`` out, run off the event loop.
Values are made JSON-plain here (ObjectId → string, datetime → ISO 8601).
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime
from typing import Any

from bson import ObjectId

ZIP_CONTENT_TYPE = "application/zip"
README = (
    "本压缩包是协会培训考试报名系统中保存的您本人的全部个人信息（依据《个人信息保护法》第四十五条导出）。\n"
    "data.json：账号、个人信息、执业资格证书、所属单位与授权、报名记录、物流与发票模板、与您有关的操作记录；\n"
    "photo.jpg：证件照；qualifications/：执业资格证书图片。\n"
)


def plain(value: Any) -> Any:
    """``value`` with ObjectIds and datetimes as strings, recursively (JSON-ready)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return None  # never raw bytes in the JSON; files travel beside it
    return value


def render_data_export(data: dict[str, Any], files: list[tuple[str, bytes]]) -> tuple[str, str, bytes]:
    """The ZIP: ``说明.txt``, ``data.json`` and each (path, bytes) of ``files``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("说明.txt", README)
        archive.writestr("data.json", json.dumps(plain(data), ensure_ascii=False, indent=2))
        for path, content in files:
            archive.writestr(path, content, compress_type=zipfile.ZIP_STORED)  # JPEGs do not shrink
    return "我的个人信息.zip", ZIP_CONTENT_TYPE, out.getvalue()
