"""API keys of projects: created, listed and revoked by a project's admins (AccessService)."""
