"""Click payment links (the CLICK button): https://my.click.uz/services/pay?…, amount in sum."""

from urllib.parse import urlencode

from tolov.money import tiyin_to_sum_str

PAY_URL = "https://my.click.uz/services/pay"


def pay_link(
    service_id: str,
    merchant_id: str,
    transaction_param: str,
    amount: int,
    *,
    return_url: str | None = None,
    merchant_user_id: str | None = None,
    card_type: str | None = None,
    pay_url: str = PAY_URL,
) -> str:
    """Amount in tiyin, written as sum with two decimals, converted exactly."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    params = {
        "service_id": service_id,
        "merchant_id": merchant_id,
        "amount": tiyin_to_sum_str(amount),
        "transaction_param": transaction_param,
    }
    if merchant_user_id:
        params["merchant_user_id"] = merchant_user_id
    if return_url:
        params["return_url"] = return_url
    if card_type:
        if card_type not in ("uzcard", "humo"):
            raise ValueError("card_type must be uzcard or humo")
        params["card_type"] = card_type
    return f"{pay_url}?{urlencode(params)}"
