"""Voice projections: the tenants' Twilio accounts, calls and their events."""
