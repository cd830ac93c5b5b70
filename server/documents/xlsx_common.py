"""Excel helpers shared by every sheet we read or write.

- :func:`escape_cell`: text that a spreadsheet would run as a formula (``=``,
  ``+``, ``-``, ``@``, and the tab/CR tricks) is written with a leading ``'``,
  so a name like ``=HYPERLINK(...)`` typed into a form stays text in every
  export (CSV/formula injection).
- :func:`check_xlsx_container`: the checks made on an uploaded ``.xlsx``
  *before* any XML parser sees it — size, an encrypted (OLE) file, not a zip,
  macros (``vbaProject.bin`` / macro content type), too many members, and
  members whose declared inflated size or ratio would make a zip bomb.
- :func:`load_workbook_safely`: openpyxl in read-only mode, with defused XML.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import openpyxl
from openpyxl.workbook.workbook import Workbook

from server.errors import AppError, too_large, unsupported_media

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MACRO_CONTENT_TYPE = "application/vnd.ms-excel.sheet.macroEnabled"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted xlsx (or an old .xls)
ZIP_MAGIC = b"PK\x03\x04"

MAX_MEMBERS = 500
MAX_UNCOMPRESSED = 50 * 1024 * 1024  # total of the declared sizes
MAX_RATIO = 200  # declared size / compressed size, for members over RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024  # small members may compress however well they like

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> Any:
    """A cell value safe to export: text that would be a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def refused(code: str, message: str, **details: Any) -> AppError:
    """422 for a spreadsheet refused before parsing."""
    return AppError(422, code, message, details)


def check_xlsx_container(
    data: bytes,
    *,
    max_bytes: int,
    max_uncompressed: int = MAX_UNCOMPRESSED,
    max_ratio: int = MAX_RATIO,
) -> None:
    """Refuse what no parser should see: too big, encrypted, not a zip, macros, zip bombs."""
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    if data.startswith(OLE_MAGIC):
        raise refused("xlsx_encrypted", "文件已加密或为旧版 .xls 格式，请取消密码保护并另存为 .xlsx 后上传")
    if not data.startswith(ZIP_MAGIC):
        raise unsupported_media("请上传 .xlsx 格式的 Excel 文件", "xlsx_bad_format")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            content_types = _read_small(archive, "[Content_Types].xml")
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, NotImplementedError):
        raise unsupported_media("文件已损坏或不是 .xlsx 格式", "xlsx_bad_format") from None
    check_zip_members(members, max_members=MAX_MEMBERS, max_uncompressed=max_uncompressed, max_ratio=max_ratio)
    names = {m.filename.lower() for m in members}
    if any(name.endswith("vbaproject.bin") for name in names) or MACRO_CONTENT_TYPE.encode() in content_types:
        raise refused("xlsx_macros", "不接受含宏的文件（.xlsm），请另存为 .xlsx 后上传")


def check_zip_members(
    members: list[zipfile.ZipInfo], *, max_members: int, max_uncompressed: int, max_ratio: int,
    ratio_floor: int = RATIO_FLOOR,
) -> None:
    """Refuse an archive whose declared sizes would inflate past the caps (zipfile enforces them)."""
    if len(members) > max_members:
        raise refused("archive_too_many_files", f"压缩包内文件过多（上限 {max_members} 个）", limit=max_members)
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(1, member.compress_size)
        if total > max_uncompressed or (member.file_size > ratio_floor and ratio > max_ratio):
            raise refused(
                "archive_bomb", "压缩包解压后过大，已拒绝", member=member.filename[:200],
                limit_bytes=max_uncompressed,
            )


def _read_small(archive: zipfile.ZipFile, name: str, limit: int = 256 * 1024) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise refused("archive_bomb", "压缩包解压后过大，已拒绝", member=name)
    return archive.read(info)


def load_workbook_safely(data: bytes) -> Workbook:
    """openpyxl in read-only mode on checked bytes; the XML parser is defusedxml's."""
    # defusedxml installed makes openpyxl refuse entity expansion and external entities.
    assert openpyxl.DEFUSEDXML, "defusedxml must be installed"
    return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
