"""The simulator's errors: Payme's code and a {ru, uz, en} message by what went wrong (the table in
local/subscribe_sim/__init__.py says when each is answered)."""

from typing import Any

# (code, ru, uz, en) by what went wrong.
ERRORS: dict[str, tuple[int, str, str, str]] = {
    "not_post": (-32300, "Метод запроса должен быть POST", "So'rov usuli POST bo'lishi kerak",
                 "The request method must be POST"),
    "parse": (-32700, "Ошибка разбора JSON", "JSON tahlilida xatolik", "JSON parse error"),
    "request": (-32600, "Неверный запрос", "Noto'g'ri so'rov", "Invalid request"),
    "method": (-32601, "Метод не найден", "Metod topilmadi", "Method not found"),
    "params": (-32602, "Неверные параметры", "Noto'g'ri parametrlar", "Invalid params"),
    "access": (-32504, "Недостаточно привилегий для выполнения метода",
               "Metodni bajarish uchun huquqlar yetarli emas",
               "Insufficient privileges to perform the method"),
    "system": (-32400, "Системная ошибка", "Tizim xatosi", "System error"),
    "processing": (-31002, "Процессинговый центр недоступен, повторите попытку позже",
                   "Protsessing markazi mavjud emas, keyinroq urinib ko'ring",
                   "The processing centre is unavailable, try again later"),
    "code_expired": (-31101, "Срок действия кода истёк, запросите новый",
                     "Kodning amal qilish muddati tugadi, yangisini so'rang",
                     "The code has expired, request a new one"),
    "code_attempts": (-31102, "Превышено количество попыток ввода кода",
                      "Kod kiritish urinishlari soni oshib ketdi", "Too many attempts to enter the code"),
    "code_wrong": (-31103, "Неверный код", "Noto'g'ri kod", "Wrong code"),
    "card_number": (-31300, "Неверный номер карты", "Karta raqami noto'g'ri", "Invalid card number"),
    "card_expire": (-31300, "Неверный срок действия карты", "Karta amal qilish muddati noto'g'ri",
                    "Invalid card expiry date"),
    "no_sms": (-31301, "SMS-информирование не подключено", "SMS-xabarnoma ulanmagan",
               "SMS notification is not connected"),
    "card_expired": (-31301, "Срок действия карты истёк", "Karta muddati tugagan", "The card has expired"),
    "card_blocked": (-31301, "Карта заблокирована", "Karta bloklangan", "The card is blocked"),
    "card_not_found": (-31400, "Карта не найдена", "Karta topilmadi", "Card not found"),
    "card_not_verified": (-31400, "Карта не подтверждена", "Karta tasdiqlanmagan",
                          "The card is not verified"),
    "receipt_state": (-31008, "Невозможно выполнить операцию", "Amalni bajarib bo'lmaydi",
                      "The operation cannot be performed"),
    "receipt_not_found": (-31602, "Чек не найден", "Chek topilmadi", "Receipt not found"),
    "field": (-31610, "Неверное значение поля", "Maydon qiymati noto'g'ri", "Invalid field value"),
    "amount_low": (-31611, "Сумма меньше допустимой", "Summa ruxsat etilganidan kam",
                   "The amount is below the minimum"),
    "amount_high": (-31612, "Сумма больше допустимой", "Summa ruxsat etilganidan ko'p",
                    "The amount is above the maximum"),
    "billing_unavailable": (-31622, "Сервис поставщика недоступен", "Yetkazib beruvchi xizmati mavjud emas",
                            "The merchant's service is unavailable"),
    "billing_refused": (-31623, "Сервис поставщика работает некорректно",
                        "Yetkazib beruvchi xizmati noto'g'ri ishlayapti",
                        "The merchant's service is working incorrectly"),
    "funds": (-31630, "Недостаточно средств на карте", "Kartada mablag' yetarli emas",
              "Insufficient funds on the card"),
    "pay_card_expired": (-31630, "Срок действия карты истёк", "Karta muddati tugagan",
                         "The card has expired"),
    "pay_card_blocked": (-31630, "Карта заблокирована", "Karta bloklangan", "The card is blocked"),
}  # fmt: skip


class SimError(Exception):
    def __init__(self, kind: str, data: Any = None) -> None:
        self.code, ru, uz, en = ERRORS[kind]
        self.message = {"ru": ru, "uz": uz, "en": en}
        self.data = data
        super().__init__(f"{self.code} {en}")

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error
