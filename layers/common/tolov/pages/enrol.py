"""The autopay enrolment page, GET /autopay/enrol?t=…: the card form Payme's rules ask for (inputs without
name, a form without action, Payme's mark, "Powered by Payme", a note that card data goes to Payme and not
to us), and the script (enrol.js) that runs cards.create, cards.get_verify_code and cards.verify in the
browser and sends only the verified token to POST /autopay/enrol."""

import json
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from tolov.pages.html import PAYME_LOGO, Page, e, language_switch, layout
from tolov.pages.i18n import money, text


@cache
def _script() -> str:
    return (Path(__file__).parent / "enrol.js").read_text(encoding="utf-8")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def render_enrol(
    *,
    lang: str,
    token: str,
    apartment_label: str,
    day_of_month: int,
    max_amount: int,
    subscribe_url: str,
    merchant_id: str,
    offer_url: str = "",
) -> Page:
    title = text("enrol_title", lang)
    terms = text("enrol_intro", lang, day=str(day_of_month), max=money(max_amount, lang))
    config = {
        "lang": lang,
        "token": token,
        "subscribeUrl": subscribe_url,
        "merchantId": merchant_id,
        "texts": {
            "working": text("working", lang),
            "failed": text("failed", lang),
            "network": text("network", lang),
            "badCard": text("bad_card", lang),
            "smsSent": text("sms_sent", lang, phone="{phone}"),
            "forged": text("forbidden_title", lang),
            "gone": f"{text('gone_title', lang)}. {text('ask_new_link', lang)}",
            "exists": text("autopay_exists", lang),
            "refused": text("card_refused", lang),
        },
    }
    # JSON in a data block, "<" escaped so no text of it can close the element.
    data = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    offer = (
        f' <a href="{e(offer_url)}" rel="noreferrer" target="_blank">{e(text("offer", lang))}</a>'
        if offer_url
        else ""
    )
    content = (
        '<section class="card">'
        f"<h1>{e(title)}</h1>"
        f'<p class="muted">{e(text("apartment", lang))}: '
        f'<strong id="apartment">{e(apartment_label)}</strong></p>'
        f'<p id="terms">{e(terms)}</p>'
        "</section>"
        '<section class="card">'
        '<div class="error" id="error" role="alert" hidden></div>'
        '<div id="card-step"><form id="card-form" novalidate autocomplete="on">'
        f'<label for="card-number">{e(text("card_number", lang))}</label>'
        '<input id="card-number" inputmode="numeric" autocomplete="cc-number" '
        'placeholder="8600 0000 0000 0000" '
        'maxlength="23">'
        f'<label for="card-expiry">{e(text("card_expiry", lang))}</label>'
        '<input id="card-expiry" inputmode="numeric" autocomplete="cc-exp" placeholder="MM/YY" maxlength="5">'
        f'<p class="note" id="card-note">{e(text("card_note", lang))}{offer}</p>'
        f'<button class="btn btn-main" id="card-submit" type="submit">{e(text("continue", lang))}</button>'
        "</form></div>"
        '<div id="code-step" hidden><form id="code-form" novalidate>'
        f'<label for="sms-code">{e(text("sms_title", lang))}</label>'
        '<p class="note" id="code-sent"></p>'
        '<input id="sms-code" inputmode="numeric" autocomplete="one-time-code" maxlength="8">'
        '<p><button class="btn btn-main" id="code-submit" type="submit">'
        f'{e(text("confirm", lang))}</button></p>'
        '<button class="btn btn-plain" id="start-again" type="button">'
        f'{e(text("start_again", lang))}</button>'
        "</form></div>"
        f'<div id="done" class="ok" hidden><h2>{e(text("done_title", lang))}</h2>'
        f'<p>{e(text("done_card", lang))}: <strong id="done-card"></strong><br>'
        f'{e(text("done_next", lang))}: <strong id="done-next"></strong></p></div>'
        f'<div class="payme-mark" id="payme-mark">{PAYME_LOGO}<span>{e(text("powered", lang))}</span></div>'
        "</section>"
        f'<script type="application/json" id="enrol-config">{data}</script>'
    )
    document, headers = layout(
        lang,
        title,
        content,
        switch=language_switch(lang, {"t": token}),
        script=_script(),
        connect=_origin(subscribe_url),
    )
    return Page(200, document, lang, headers)
