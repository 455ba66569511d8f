"""Every process's logs: JSON lines (or text for humans), redacted, merged back by `revos logs`."""
