"""Fixtures of the billing unit tests."""

import pytest

from tolov.billing.invoices import Billing


@pytest.fixture
def billing(aws: None) -> Billing:
    """Billing over moto with one apartment, a1."""
    b = Billing()
    b.put_apartment("a1", "Flat 1", "r1")
    return b
