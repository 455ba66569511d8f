"""`revos bench`: the benchmark's private stack, its loads, figures, profiles and report."""
