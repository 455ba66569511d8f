"""Administration: tenants and API keys, and the tamper-evident audit chain of every admin write."""
