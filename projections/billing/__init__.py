"""The billing read models: the fold's writer and the state it loads, burn-table rules as stored, and the reads the API answers from."""
