"""Routes of the metering and credits API: usage events, burn tables, credits, customers, entitlements, corrections."""
