"""Test doubles that are real servers (reachable from the service processes of end-to-end tests)."""
