-- API keys that expire (AccessService.CreateApiKey's expires_in_days): refused as expired from
-- expires_at on; NULL for a key that never expires.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
