"""Run webhooks: a project's URLs told when its runs finish (WebhookService, and the outbox the
run's finishing transaction fills)."""
