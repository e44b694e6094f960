"""The trainer: git history to examples, training, evaluation and export."""
