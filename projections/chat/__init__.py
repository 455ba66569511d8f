"""The chat read models: assistants, conversations and their transcripts, the conversation leases, and
the widget sightings."""
