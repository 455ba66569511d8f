"""Billing: the fold over a partition's records, its state, the ledger, pricing, metering, corrections and checks."""
