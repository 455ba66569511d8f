"""The chat read models: assistants, conversations and their transcripts, and the conversation leases."""
