"""Click: SHOP-API, Merchant API and payment links."""
