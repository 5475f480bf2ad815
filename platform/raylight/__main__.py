"""`python -m raylight` is the CLI."""

from raylight.cli.main import main

main()
