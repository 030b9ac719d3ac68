"""Click (click.uz) integration: SHOP-API callbacks and the Merchant API client."""
