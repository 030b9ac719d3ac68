"""tolov: Payme and Click payments for housing and utility billing."""
