-- The program an audited call came from: the x-scorekeeper-client the SDK, the CLI and the console
-- send (scorekeeper-sdk, scorekeeper-cli, scorekeeper-console), else the first word of its
-- User-Agent (curl/8.5.0, python-httpx/0.28.1); empty when it sent neither.
ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS client text NOT NULL DEFAULT '';
