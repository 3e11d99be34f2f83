-- A paused webhook (WebhookService.UpdateWebhook's paused) is told of no run; its deliveries not
-- yet made wait until it is resumed. NULL while it is active.
ALTER TABLE webhooks ADD COLUMN paused_at timestamptz;
