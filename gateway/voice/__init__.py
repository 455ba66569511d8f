"""Voice: the tenant's Twilio account, Twilio's webhooks (TwiML answers), the ConversationRelay socket
and the calls API."""
