"""Internal: the `Transport` port and its HTTP and Kafka adapters (Kafka only imported when configured)."""
