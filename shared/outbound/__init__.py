"""Calls out of the platform (systems, LLM judges, webhooks): where they may go and what secrets
they may carry."""
