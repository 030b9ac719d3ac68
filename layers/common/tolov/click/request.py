"""SHOP-API requests: the body as Click posts it (form-encoded; JSON accepted for tools) and its fields.

Field values stay the raw strings that were signed; the typed views (tiyin, ints) are derived from them.
"""

import base64
import json
import re
from collections.abc import Mapping
from enum import IntEnum
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from tolov.money import sum_str_to_tiyin

MAX_FIELDS = 64
MAX_BODY_CHARS = 16_384
# Click's ids are bigints; 19 digits covers 2**63 - 1.
BIGINT_MAX = 2**63 - 1


class Action(IntEnum):
    PREPARE = 0
    COMPLETE = 1


# Each field's rule, matched whole (re.fullmatch: no trailing newline slips through, as `$` would let it).
# Plain patterns rather than a pydantic model: these eleven strings are all the Click function validates,
# and pydantic would be its costliest import (+40 ms at a cold start, see bench/cold_start.py).
_ID = re.compile(r"[0-9]{1,19}")
_TEXT = re.compile(r".{1,128}", re.DOTALL)
# So'm with at most two decimals, ASCII digits only: exactly what tolov.money converts.
_AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,2})?")
# 0 = debited / OK, negative = Click-side failure; Click defines nothing positive.
_STATUS = re.compile(r"0|-[1-9][0-9]{0,9}")
_RULES: dict[str, re.Pattern[str]] = {
    "click_trans_id": _ID,
    "service_id": _ID,
    "click_paydoc_id": _ID,
    "merchant_trans_id": _TEXT,
    "merchant_prepare_id": _ID,
    "amount": _AMOUNT,
    "action": re.compile(r".{1,16}", re.DOTALL),
    "error": _STATUS,
    "error_note": re.compile(r".{0,1024}", re.DOTALL),
    "sign_time": re.compile(r".{1,32}", re.DOTALL),
    "sign_string": _TEXT,
}


class ClickRequest(NamedTuple):
    """A Prepare or Complete whose fields are all present and well-formed (not yet authenticated)."""

    click_trans_id: str
    service_id: str
    click_paydoc_id: str
    merchant_trans_id: str
    amount: str
    action: str
    error: str
    sign_time: str
    sign_string: str
    merchant_prepare_id: str | None = None
    error_note: str = ""

    @property
    def tiyin(self) -> int:
        return sum_str_to_tiyin(self.amount)

    @property
    def click_error(self) -> int:
        return int(self.error)

    @property
    def trans_id(self) -> str:
        """click_trans_id without leading zeros: the key of the attempt."""
        return str(int(self.click_trans_id))


_OPTIONAL = {"merchant_prepare_id", "error_note"}
FIELD_NAMES = ClickRequest._fields


def validate_fields(fields: Mapping[str, str], *, complete: bool) -> ClickRequest | None:
    """None when a field is missing or malformed (-8). Empty values count as missing; others are ignored."""
    present = {name: fields[name] for name in FIELD_NAMES if fields.get(name, "") != ""}
    if any(name not in present for name in FIELD_NAMES if name not in _OPTIONAL):
        return None
    if not all(isinstance(value, str) and _RULES[name].fullmatch(value) for name, value in present.items()):
        return None
    request = ClickRequest(**present)
    if int(request.click_trans_id) > BIGINT_MAX or int(request.click_paydoc_id) > BIGINT_MAX:
        return None
    if complete and request.merchant_prepare_id is None:
        return None
    return request


def parse_body(
    body: str | None, *, content_type: str | None, base64_encoded: bool = False
) -> dict[str, str] | None:
    """The request's fields as strings, or None when the body cannot be read as one flat set of fields.

    JSON numbers keep their source text ("1000.00" stays "1000.00") so that they verify against what
    was signed. A repeated form field is ambiguous and refused."""
    if body is None:
        return {}
    if len(body) > MAX_BODY_CHARS * (2 if base64_encoded else 1):
        return None
    try:
        text = base64.b64decode(body, validate=True).decode("utf-8") if base64_encoded else body
    except ValueError:  # binascii.Error, a non-ASCII body, UnicodeDecodeError
        return None
    if _is_json(text, content_type):
        return _json_fields(text)
    return _form_fields(text)


def _is_json(text: str, content_type: str | None) -> bool:
    if content_type:
        return "json" in content_type.lower()
    return text.lstrip().startswith("{")


def _json_fields(text: str) -> dict[str, str] | None:
    def refuse_constant(name: str) -> Any:
        raise ValueError(name)

    try:
        data = json.loads(text, parse_int=str, parse_float=str, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or len(data) > MAX_FIELDS:
        return None
    fields: dict[str, str] = {}
    for name, value in data.items():
        if value is None:
            continue
        if not isinstance(value, str):  # objects, arrays, booleans
            return None
        fields[name] = value
    return fields


def _form_fields(text: str) -> dict[str, str] | None:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError):
        return None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            return None
        fields[name] = value
    return fields
