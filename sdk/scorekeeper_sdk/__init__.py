"""Python client for Scorekeeper."""

from scorekeeper_sdk.client import Client, RunTimeout

__all__ = ["Client", "RunTimeout"]
