"""Routes of the tenant's administration API: API keys and the audit log."""
