"""The outbox: domain events out of the tables' DynamoDB streams, onto the template's EventBridge bus."""
