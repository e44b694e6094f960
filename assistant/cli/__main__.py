"""`python -m assistant.cli ...`: the same as the `assistant` console script (used by tests and `accelerate launch`)."""

from assistant.cli.app import main

main()
