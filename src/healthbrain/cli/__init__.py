"""The `healthbrain` command line."""
