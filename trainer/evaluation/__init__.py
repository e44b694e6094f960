"""Evaluation: the tuned model against its base on held-out commits, and pass@k in a sandbox."""
