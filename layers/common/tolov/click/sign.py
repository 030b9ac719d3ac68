"""The SHOP-API `sign_string`: MD5 over the raw form strings, compared in constant time.

Every value is hashed exactly as it arrived (never parsed and re-formatted): Click has sent both
"110000" and "1000.00" amounts, and re-formatting either breaks the signature.
"""

import hashlib
import hmac

COMPLETE_ACTION = "1"


def sign_string(
    *,
    click_trans_id: str,
    service_id: str,
    secret_key: str,
    merchant_trans_id: str,
    merchant_prepare_id: str,
    amount: str,
    action: str,
    sign_time: str,
) -> str:
    """md5(click_trans_id service_id SECRET_KEY merchant_trans_id [merchant_prepare_id] amount action
    sign_time); merchant_prepare_id takes part only when action is "1" (Complete)."""
    prepare_id = merchant_prepare_id if action == COMPLETE_ACTION else ""
    text = "".join(
        (click_trans_id, service_id, secret_key, merchant_trans_id, prepare_id, amount, action, sign_time)
    )
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str (a forged field must not raise).
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("utf-8"))
