"""Payme Merchant API error codes and the localized messages Payme shows to the payer."""

from typing import Any

Message = dict[str, str]

# Protocol errors
TRANSPORT_ERROR = -32300  # the HTTP method is not POST
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INSUFFICIENT_PRIVILEGE = -32504
SYSTEM_ERROR = -32400

# Business errors
WRONG_AMOUNT = -31001
TRANSACTION_NOT_FOUND = -31003
CANNOT_CANCEL = -31007
CANNOT_PERFORM = -31008

# Account errors: the range -31050..-31099 is ours to divide; `data` names the account field.
ACCOUNT_NOT_FOUND = -31050
ACCOUNT_INVALID = -31051
ACCOUNT_MISMATCH = -31052


def _msg(ru: str, uz: str, en: str) -> Message:
    return {"ru": ru, "uz": uz, "en": en}


MESSAGES: dict[int, Message] = {
    TRANSPORT_ERROR: _msg(
        "Неверный HTTP-метод: нужен POST", "HTTP metodi noto'g'ri: POST kerak", "The HTTP method must be POST"
    ),
    PARSE_ERROR: _msg("Ошибка разбора JSON", "JSON o'qib bo'lmadi", "Parse error"),
    INVALID_REQUEST: _msg("Неверный запрос", "So'rov noto'g'ri", "Invalid request"),
    METHOD_NOT_FOUND: _msg("Метод не найден", "Metod topilmadi", "Method not found"),
    INSUFFICIENT_PRIVILEGE: _msg(
        "Недостаточно привилегий для выполнения метода",
        "Metodni bajarish uchun huquq yetarli emas",
        "Insufficient privilege to perform this method",
    ),
    SYSTEM_ERROR: _msg(
        "Системная ошибка, повторите позже",
        "Tizim xatosi, keyinroq urinib ko'ring",
        "System error, try again later",
    ),
    WRONG_AMOUNT: _msg("Неверная сумма", "Noto'g'ri summa", "Incorrect amount"),
    TRANSACTION_NOT_FOUND: _msg("Транзакция не найдена", "Tranzaksiya topilmadi", "Transaction not found"),
    CANNOT_CANCEL: _msg(
        "Платёж уже зачислен, отменить невозможно",
        "To'lov hisobga olingan, bekor qilib bo'lmaydi",
        "The payment has been credited and can no longer be cancelled",
    ),
    CANNOT_PERFORM: _msg(
        "Невозможно выполнить операцию",
        "Amalni bajarib bo'lmaydi",
        "Unable to perform the operation",
    ),
}

ACCOUNT_MESSAGES: dict[str, dict[int, Message]] = {
    "invoice": {
        ACCOUNT_NOT_FOUND: _msg("Счёт не найден", "Hisob topilmadi", "Invoice not found"),
        ACCOUNT_INVALID: _msg("Неверный номер счёта", "Hisob raqami noto'g'ri", "Invalid invoice number"),
        ACCOUNT_MISMATCH: _msg(
            "Данные счёта не совпадают с транзакцией",
            "Hisob ma'lumotlari tranzaksiyaga mos emas",
            "The invoice does not match the transaction",
        ),
    },
    "apartment": {
        ACCOUNT_NOT_FOUND: _msg("Квартира не найдена", "Xonadon topilmadi", "Apartment not found"),
        ACCOUNT_INVALID: _msg(
            "Неверный номер квартиры", "Xonadon raqami noto'g'ri", "Invalid apartment number"
        ),
        ACCOUNT_MISMATCH: _msg(
            "Данные квартиры не совпадают с транзакцией",
            "Xonadon ma'lumotlari tranzaksiyaga mos emas",
            "The apartment does not match the transaction",
        ),
    },
}

# Reasons for -31008 worth telling the payer apart from the generic text.
INVOICE_PAID = _msg("Счёт уже оплачен", "Hisob allaqachon to'langan", "The invoice is already paid")
INVOICE_CANCELLED = _msg("Счёт аннулирован", "Hisob bekor qilingan", "The invoice has been cancelled")
INVOICE_BUSY = _msg(
    "Счёт ожидает оплаты по другой транзакции",
    "Hisob boshqa tranzaksiya bo'yicha to'lovni kutmoqda",
    "Another payment of this invoice is in progress",
)
TRANSACTION_EXPIRED = _msg(
    "Время ожидания транзакции истекло", "Tranzaksiya muddati o'tgan", "The transaction has timed out"
)
WRONG_STATE = _msg(
    "Состояние транзакции не позволяет выполнить операцию",
    "Tranzaksiya holati amalni bajarishga imkon bermaydi",
    "The transaction's state does not allow this operation",
)

INVALID_PASSWORD = _msg("Неверный пароль", "Parol noto'g'ri", "Invalid password")


class PaymeError(Exception):
    """An error reply. Raised inside the protocol core and turned into the JSON-RPC `error` object."""

    def __init__(self, code: int, message: Message | None = None, data: Any = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code) or MESSAGES[SYSTEM_ERROR]
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def account_error(kind: str, field: str, code: int = ACCOUNT_NOT_FOUND) -> PaymeError:
    return PaymeError(code, ACCOUNT_MESSAGES[kind][code], data=field)


def invalid(field: str) -> PaymeError:
    return PaymeError(INVALID_REQUEST, data=field)
