"""The chat agents' runtime: model providers, tenant tools, sessions and the websocket."""
