"""HTTP plumbing every route shares: request bodies, errors, paging, responses, authentication, scopes, rate limits, client addresses, log redaction."""
