"""Routes of the tenant's administration API: API keys, the audit log, dead letters and alert webhooks."""
