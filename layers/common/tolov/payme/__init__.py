"""Payme: Merchant API, Subscribe API and checkout links."""
