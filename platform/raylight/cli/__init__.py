"""The command line: one module per verb; each parses arguments and calls one run_* function."""
