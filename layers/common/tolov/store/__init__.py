"""DynamoDB persistence through PynamoDB."""
