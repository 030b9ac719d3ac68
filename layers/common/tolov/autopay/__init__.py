"""Autopay: enrolment of saved Payme cards, the daily schedule and its fan-out, charging one autopay for
one period exactly once, and the decline policy, over the Payme Subscribe API client."""
