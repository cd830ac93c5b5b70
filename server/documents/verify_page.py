"""The public verification page (``GET /verify/{code}``): small, Chinese, for a phone; no scripts.

Pure: the answer (or None for a wrong code) in, the HTML out; every value is escaped. The handler
sends it with a Content-Security-Policy that allows no script, no frame and no outside resource.
"""

from __future__ import annotations

from html import escape

from server.models.certificates import VerificationOut

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; " \
      "frame-ancestors 'none'"

_STYLE = (
    "body{font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;margin:0;background:#f5f5f5;color:#222}"
    "main{max-width:32rem;margin:0 auto;padding:1.2rem}h1{font-size:1.25rem;margin:.2rem 0 1rem}"
    ".card{background:#fff;border-radius:.6rem;padding:1rem 1.2rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}"
    "dl{display:grid;grid-template-columns:6em 1fr;gap:.55rem .8rem;margin:0}dt{color:#777}dd{margin:0}"
    ".valid{color:#137333;font-weight:bold}.revoked{color:#b3261e;font-weight:bold}"
    "p.note{color:#777;font-size:.85rem}"
)


def render_verification(answer: VerificationOut | None, *, association: str, busy: bool = False) -> str:
    """The page for a verified certificate, the one page every wrong code gets, or (``busy``) the
    page of a client over the rate limit."""
    if busy:
        body = '<div class="card"><p class="revoked">查询过于频繁</p><p>请稍后再试。</p></div>'
    elif answer is None:
        body = ('<div class="card"><p class="revoked">未查询到该证书</p>'
                "<p>证书不存在或验证码无效。请核对证书上的二维码，或联系发证机构。</p></div>")
    else:
        rows = [("姓名", answer.name), ("身份证号", answer.id_masked), ("培训课程", answer.course),
                ("学时", f"{answer.hours} 学时"), ("发证日期", answer.issued_on)]
        cells = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
        status = f'<dt>证书状态</dt><dd class="{escape(answer.status)}">{escape(answer.status_label)}</dd>'
        body = f'<div class="card"><dl>{cells}{status}</dl></div>'
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>合格证书验证 - {escape(association)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>合格证书验证</h1>{body}"
        f'<p class="note">本页面由{escape(association)}提供，仅显示证书的必要信息。</p></main></body></html>'
    )
