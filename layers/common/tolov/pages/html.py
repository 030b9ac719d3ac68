"""The pages' shell: one layout (phone first, no framework, no external file of any kind), escaping, the
language switch, the QR code, and the headers every page is sent with."""

import secrets
from html import escape
from typing import NamedTuple
from urllib.parse import urlencode

import segno

from tolov.pages.i18n import LANGUAGE_NAMES, LANGUAGES, text

STYLE = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c2430;
background:#f3f5f8}
main{max-width:34rem;margin:0 auto;padding:1rem}
header{display:flex;justify-content:space-between;align-items:center;gap:.5rem;margin-bottom:.75rem}
.brand{font-weight:700;letter-spacing:.02em;color:#0b6e4f}
nav.lang a{margin-left:.5rem;color:#445;text-decoration:none;font-size:.9rem}
nav.lang a[aria-current]{font-weight:700;color:#0b6e4f;text-decoration:underline}
.card{background:#fff;border-radius:12px;padding:1rem;box-shadow:0 1px 3px rgba(0,0,0,.08);margin-bottom:1rem}
h1{font-size:1.3rem;margin:.2rem 0 .6rem}
.muted{color:#5b6675;font-size:.92rem}
table{width:100%;border-collapse:collapse}
th,td{padding:.45rem .25rem;text-align:left;vertical-align:top;border-bottom:1px solid #e6e9ee}
th{font-size:.8rem;color:#5b6675;font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap}
dl.totals{display:grid;grid-template-columns:1fr auto;gap:.3rem .75rem;margin:.75rem 0 0}
dl.totals dt{color:#5b6675}
dl.totals dd{margin:0;text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
dl.totals .due{font-weight:700;font-size:1.1rem;color:#1c2430}
.status{display:inline-block;padding:.15rem .6rem;border-radius:999px;font-size:.85rem;font-weight:600}
.status-open,.status-partly{background:#fff1d6;color:#8a5300}
.status-paid{background:#dcf5e8;color:#0b6e4f}
.status-cancelled{background:#eceff3;color:#445}
.buttons{display:grid;gap:.6rem}
.btn{display:block;text-align:center;padding:.85rem 1rem;border-radius:10px;font-weight:700;font-size:1.05rem;
text-decoration:none;border:0;width:100%;cursor:pointer}
.btn-payme{background:#00baba;color:#fff}
.btn-click{background:#0a74ff;color:#fff}
.btn-main{background:#0b6e4f;color:#fff}
.btn-plain{background:#eceff3;color:#1c2430}
.btn[disabled]{opacity:.6}
figure.qr{margin:0;text-align:center}
figure.qr svg{width:11rem;height:11rem}
label{display:block;font-weight:600;margin:.6rem 0 .25rem}
input{width:100%;font-size:1.15rem;padding:.7rem;border:1px solid #c5ccd6;border-radius:8px;
letter-spacing:.04em}
.row{display:grid;grid-template-columns:1fr;gap:.25rem}
.note{font-size:.88rem;color:#5b6675}
.payme-mark{display:flex;align-items:center;gap:.5rem;margin:.75rem 0}
.error{background:#fde8e8;color:#9b1c1c;border-radius:8px;padding:.6rem .75rem;margin:.6rem 0}
.ok{background:#dcf5e8;color:#0b4f39;border-radius:8px;padding:.75rem}
[hidden]{display:none!important}
"""

# Payme's mark, drawn here (no image is fetched): the word in Payme's teal, for "Powered by Payme".
PAYME_LOGO = (
    '<svg class="payme-logo" role="img" aria-label="Payme" width="96" height="28" viewBox="0 0 96 28" '
    'xmlns="http://www.w3.org/2000/svg"><rect width="96" height="28" rx="6" fill="#00baba"/>'
    '<text x="48" y="19.5" text-anchor="middle" font-family="Arial,Helvetica,sans-serif" font-size="16" '
    'font-weight="700" fill="#fff">payme</text></svg>'
)


class _PageFields(NamedTuple):
    status: int
    body: str
    lang: str
    headers: dict[str, str]  # the default is Page.__new__'s


class Page(_PageFields):
    # A subclass because only __new__ can give every page its own headers dict (the response may add to
    # it) rather than one shared default, and a NamedTuple cannot override __new__.
    __slots__ = ()

    def __new__(cls, status: int, body: str, lang: str, headers: dict[str, str] | None = None) -> "Page":
        return super().__new__(cls, status, body, lang, {} if headers is None else headers)


def e(value: object) -> str:
    return escape(str(value), quote=True)


def qr_svg(url: str) -> str:
    """The QR code of a URL as inline SVG, made here: no service sees the URL."""
    code = segno.make(url, error="m")
    svg: str = code.svg_inline(scale=4, border=2, dark="#1c2430", light="#ffffff", omitsize=True)
    return svg


def language_switch(lang: str, query: dict[str, str]) -> str:
    """Links to this page in the other languages: query-only, so a stage's path prefix stays."""
    links = []
    for other in LANGUAGES:
        target = f"?{urlencode({**query, 'lang': other})}"
        current = ' aria-current="true"' if other == lang else ""
        links.append(
            f'<a href="{e(target)}" lang="{other}" hreflang="{other}"{current}>{e(LANGUAGE_NAMES[other])}</a>'
        )
    return f'<nav class="lang" aria-label="{e(text("language", lang))}">{"".join(links)}</nav>'


def layout(
    lang: str, title: str, content: str, *, switch: str = "", script: str = "", connect: str = ""
) -> tuple[str, dict[str, str]]:
    """The whole document and its headers. The Content-Security-Policy lets in only this page's own
    script (by nonce), its inline style, and fetches to itself and `connect` (Payme's Subscribe API)."""
    nonce = secrets.token_urlsafe(16)
    scripts = f'<script nonce="{nonce}">{script}</script>' if script else ""
    document = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{e(title)}</title><style>{STYLE}</style></head><body><main>"
        f'<header><span class="brand">tolov</span>{switch}</header>{content}</main>{scripts}</body></html>'
    )
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'nonce-{nonce}'; connect-src 'self' {connect}".rstrip()
        + "; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Language": lang,
        "Content-Security-Policy": policy,
        # A signed ?t= must not travel to Payme or Click in a Referer.
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    return document, headers


def message_page(status: int, lang: str, title_key: str, *text_keys: str) -> Page:
    """The friendly page of a 403, 404, 410 or 503."""
    title = text(title_key, lang)
    paragraphs = "".join(f"<p>{e(text(key, lang))}</p>" for key in text_keys)
    body, headers = layout(lang, title, f'<section class="card"><h1>{e(title)}</h1>{paragraphs}</section>')
    return Page(status, body, lang, headers)
