"""Testsets and testcases: validation, storage and the TestsetService API."""
