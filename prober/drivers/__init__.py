"""Drivers: how journeys reach a target (a browser, an HTTP client)."""
