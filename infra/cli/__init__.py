"""The `revos` command line: `main` builds it; one module per command group (stack, admin, audit, dead letters)."""
