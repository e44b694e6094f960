"""repo-assistant: a local coding assistant that learns your repository.

This package holds the `assistant` CLI and the contract shared by the trainer and the server: config,
model profiles, the prompt formatter and the model dir.
"""

__version__ = "0.1.0"
