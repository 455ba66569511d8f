"""Alert webhooks: a tenant's endpoints, the events they subscribe to, and when one is disabled."""
