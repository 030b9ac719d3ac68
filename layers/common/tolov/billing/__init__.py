"""Apartments, invoices and the ledger of charges and payments."""
