"""API keys and what they allow: one project and one role per key, checked once per edge."""
