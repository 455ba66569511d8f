"""Alert webhooks in PostgreSQL: the tenants' endpoints, and the deliveries the writers queue for them."""
