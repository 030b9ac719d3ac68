"""The residents' languages: Uzbek (Latin), Russian, English. Which one a request gets, the pages' texts,
and money and periods written the way each language writes them (from integer tiyin, never a float)."""

from tolov.money import tiyin_to_sum_str

LANGUAGES = ("uz", "ru", "en")
DEFAULT = "uz"
NBSP = "\u00a0"


def choose(query_lang: str | None, accept_language: str | None) -> str:
    """?lang= when it names one of ours, else the best of Accept-Language (q-values honoured; uz-Cyrl,
    ru-RU, en-GB count as uz, ru, en), else Uzbek."""
    if query_lang and query_lang.strip().lower() in LANGUAGES:
        return query_lang.strip().lower()
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "")[:500].split(",")):
        tag, *params = (p.strip() for p in part.split(";"))
        primary = tag.split("-")[0].lower()
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        candidate = (-quality, position, primary)
        if best is None or candidate < best:
            best = candidate
    return best[2] if best else DEFAULT


CURRENCY = {"uz": "so'm", "ru": "сум", "en": "sum"}


def money(tiyin: int, lang: str) -> str:
    """12345678 tiyin: uz/ru "123 456,78 so'm" (no-break spaces), en "123,456.78 sum"."""
    whole, cents = tiyin_to_sum_str(tiyin).split(".")
    groups: list[str] = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    number = f"{','.join(groups)}.{cents}" if lang == "en" else f"{NBSP.join(groups)},{cents}"
    return f"{number}{NBSP}{CURRENCY[lang]}"


MONTHS = {
    "uz": ("yanvar", "fevral", "mart", "aprel", "may", "iyun", "iyul", "avgust", "sentyabr", "oktyabr",
           "noyabr", "dekabr"),
    "ru": ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь",
           "ноябрь", "декабрь"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
}  # fmt: skip


def period(value: str, lang: str) -> str:
    """ "2026-11": "2026-yil noyabr", "Ноябрь 2026", "November 2026"."""
    year, _, month = value.partition("-")
    if not (year.isdigit() and month.isdigit() and 1 <= int(month) <= 12):
        return value
    name = MONTHS[lang][int(month) - 1]
    if lang == "uz":
        return f"{year}-yil {name}"
    return f"{name[0].upper()}{name[1:]} {year}"


# Every text of the pages, by key and language. The pages use nothing else, so a missing translation
# is a KeyError in the tests, never an English word on an Uzbek page.
TEXTS: dict[str, dict[str, str]] = {
    "bill_title": {"uz": "Hisob: {period}", "ru": "Счёт за {period}", "en": "Bill for {period}"},
    "invoice_no": {"uz": "Hisob raqami", "ru": "Номер счёта", "en": "Invoice number"},
    "apartment": {"uz": "Xonadon", "ru": "Квартира", "en": "Apartment"},
    "service": {"uz": "Xizmat", "ru": "Услуга", "en": "Service"},
    "count": {"uz": "Soni", "ru": "Кол-во", "en": "Qty"},
    "amount": {"uz": "Summa", "ru": "Сумма", "en": "Amount"},
    "total": {"uz": "Jami", "ru": "Итого", "en": "Total"},
    "paid": {"uz": "To'langan", "ru": "Оплачено", "en": "Paid"},
    "due": {"uz": "To'lash kerak", "ru": "К оплате", "en": "Due"},
    "due_date": {"uz": "To'lov muddati", "ru": "Оплатить до", "en": "Pay by"},
    "status": {"uz": "Holati", "ru": "Статус", "en": "Status"},
    "status_open": {"uz": "To'lanmagan", "ru": "Не оплачен", "en": "Unpaid"},
    "status_partly": {"uz": "Qisman to'langan", "ru": "Оплачен частично", "en": "Partly paid"},
    "status_paid": {"uz": "To'langan", "ru": "Оплачен", "en": "Paid"},
    "status_cancelled": {"uz": "Bekor qilingan", "ru": "Отменён", "en": "Cancelled"},
    "pay_with": {"uz": "{provider} orqali to'lash", "ru": "Оплатить через {provider}",
                 "en": "Pay with {provider}"},
    "paid_note": {"uz": "Hisob to'liq to'langan. Rahmat!", "ru": "Счёт полностью оплачен. Спасибо!",
                  "en": "This bill is paid in full. Thank you!"},
    "cancelled_note": {"uz": "Bu hisob bekor qilingan, uni to'lash shart emas.",
                       "ru": "Этот счёт отменён, оплачивать его не нужно.",
                       "en": "This bill was cancelled; there is nothing to pay."},
    "qr_caption": {"uz": "Bu sahifani telefonda ochish uchun skanerlang",
                   "ru": "Отсканируйте, чтобы открыть эту страницу на телефоне",
                   "en": "Scan to open this page on a phone"},
    "not_found_title": {"uz": "Hisob topilmadi", "ru": "Счёт не найден", "en": "Bill not found"},
    "not_found_text": {"uz": "Havolani tekshiring yoki boshqaruv kompaniyangizga murojaat qiling.",
                       "ru": "Проверьте ссылку или обратитесь в управляющую компанию.",
                       "en": "Check the link, or ask your housing company for a new one."},
    "forbidden_title": {"uz": "Havola yaroqsiz", "ru": "Ссылка недействительна",
                        "en": "This link is not valid"},
    "forbidden_text": {"uz": "Havola to'liq emas yoki o'zgartirilgan. Yangi havola so'rang.",
                       "ru": "Ссылка неполная или изменена. Запросите новую.",
                       "en": "The link is incomplete or has been altered. Ask for a new one."},
    "gone_title": {"uz": "Havola endi ishlamaydi", "ru": "Ссылка больше не действует",
                   "en": "This link no longer works"},
    "gone_used": {"uz": "Bu havola allaqachon ishlatilgan.", "ru": "Эта ссылка уже использована.",
                  "en": "This link has already been used."},
    "gone_expired": {"uz": "Havolaning amal qilish muddati (24 soat) tugagan.",
                     "ru": "Срок действия ссылки (24 часа) истёк.",
                     "en": "This link has expired (links work for 24 hours)."},
    "ask_new_link": {"uz": "Yangi havola so'rang.", "ru": "Запросите новую ссылку.",
                     "en": "Ask for a new link."},
    "unavailable_title": {"uz": "Xizmat vaqtincha ishlamayapti", "ru": "Сервис временно недоступен",
                          "en": "The service is unavailable"},
    "unavailable_text": {"uz": "Birozdan keyin qayta urinib ko'ring.", "ru": "Попробуйте ещё раз чуть позже.",
                         "en": "Please try again in a little while."},
    # the enrolment page
    "enrol_title": {"uz": "Avtoto'lov: kartani saqlash", "ru": "Автоплатёж: сохранить карту",
                    "en": "Autopay: save a card"},
    "enrol_intro": {
        "uz": "Har oyning {day}-kuni xonadon qarzi kartadan avtomatik to'lanadi, "
              "bir martada {max} dan ko'p emas.",
        "ru": "Каждый месяц {day}-го числа долг квартиры будет списываться с карты автоматически, "
              "не более {max} за раз.",
        "en": "On day {day} of each month the apartment's debt is paid from the card automatically, "
              "at most {max} at a time.",
    },
    "card_number": {"uz": "Karta raqami", "ru": "Номер карты", "en": "Card number"},
    "card_expiry": {"uz": "Amal qilish muddati (OO/YY)", "ru": "Срок действия (ММ/ГГ)",
                    "en": "Expiry (MM/YY)"},
    "continue": {"uz": "Davom etish", "ru": "Продолжить", "en": "Continue"},
    "card_note": {
        "uz": "Karta ma'lumotlari to'g'ridan-to'g'ri Payme'ga yuboriladi va Payme serverlarida saqlanadi; "
              "ular bizga berilmaydi.",
        "ru": "Данные карты отправляются напрямую в Payme и хранятся на серверах Payme; "
              "нам они не передаются.",
        "en": "Your card details go straight to Payme and are kept on Payme's servers; they are never "
              "passed to us.",
    },
    "offer": {"uz": "Payme ofertasi", "ru": "Оферта Payme", "en": "Payme's public offer"},
    "sms_title": {"uz": "SMS kod", "ru": "Код из SMS", "en": "SMS code"},
    "sms_sent": {"uz": "Kod {phone} raqamiga yuborildi.", "ru": "Код отправлен на номер {phone}.",
                 "en": "A code was sent to {phone}."},
    "confirm": {"uz": "Tasdiqlash", "ru": "Подтвердить", "en": "Confirm"},
    "start_again": {"uz": "Boshqa karta", "ru": "Другая карта", "en": "Use another card"},
    "working": {"uz": "Kuting…", "ru": "Подождите…", "en": "Please wait…"},
    "done_title": {"uz": "Avtoto'lov yoqildi", "ru": "Автоплатёж подключён", "en": "Autopay is on"},
    "done_card": {"uz": "Karta", "ru": "Карта", "en": "Card"},
    "done_next": {"uz": "Keyingi to'lov sanasi", "ru": "Следующее списание", "en": "Next charge"},
    "failed": {"uz": "Kartani saqlab bo'lmadi.", "ru": "Не удалось сохранить карту.",
               "en": "The card could not be saved."},
    "card_refused": {"uz": "Bu kartani avtoto'lov uchun ishlatib bo'lmaydi.",
                     "ru": "Эту карту нельзя использовать для автоплатежа.",
                     "en": "This card cannot be used for autopay."},
    "autopay_exists": {"uz": "Bu xonadonda avtoto'lov allaqachon yoqilgan.",
                       "ru": "Для этой квартиры автоплатёж уже подключён.",
                       "en": "This apartment already has autopay."},
    "network": {"uz": "Aloqa yo'q. Qayta urinib ko'ring.", "ru": "Нет связи. Попробуйте ещё раз.",
                "en": "No connection. Please try again."},
    "bad_card": {"uz": "Karta raqamini (16 raqam) va muddatini (OO/YY) kiriting.",
                 "ru": "Введите номер карты (16 цифр) и срок (ММ/ГГ).",
                 "en": "Enter the card number (16 digits) and expiry (MM/YY)."},
    "powered": {"uz": "Powered by Payme", "ru": "Powered by Payme", "en": "Powered by Payme"},
    "language": {"uz": "Til", "ru": "Язык", "en": "Language"},
}  # fmt: skip

LANGUAGE_NAMES = {"uz": "O'zbekcha", "ru": "Русский", "en": "English"}


def text(key: str, lang: str, **values: str) -> str:
    template = TEXTS[key][lang]
    return template.format(**values) if values else template
