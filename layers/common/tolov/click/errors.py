"""SHOP-API answer codes (the `error` field we reply with)."""

from enum import IntEnum


class ShopError(IntEnum):
    SUCCESS = 0
    SIGN_CHECK_FAILED = -1
    INCORRECT_AMOUNT = -2
    ACTION_NOT_FOUND = -3
    ALREADY_PAID = -4
    USER_DOES_NOT_EXIST = -5
    TRANSACTION_DOES_NOT_EXIST = -6
    FAILED_TO_UPDATE_USER = -7
    BAD_REQUEST = -8
    TRANSACTION_CANCELLED = -9

    @property
    def note(self) -> str:
        return _NOTES[self]


# The notes Click's documentation suggests; payers may see them in the Click app.
_NOTES = {
    ShopError.SUCCESS: "Success",
    ShopError.SIGN_CHECK_FAILED: "SIGN CHECK FAILED!",
    ShopError.INCORRECT_AMOUNT: "Incorrect parameter amount",
    ShopError.ACTION_NOT_FOUND: "Action not found",
    ShopError.ALREADY_PAID: "Already paid",
    ShopError.USER_DOES_NOT_EXIST: "User does not exist",
    ShopError.TRANSACTION_DOES_NOT_EXIST: "Transaction does not exist",
    ShopError.FAILED_TO_UPDATE_USER: "Failed to update user",
    ShopError.BAD_REQUEST: "Error in request from click",
    ShopError.TRANSACTION_CANCELLED: "Transaction cancelled",
}
