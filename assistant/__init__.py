"""repo-assistant: a local coding assistant that learns your repository.

This package is the bottom layer, the contract shared by the trainer and the server (config, model profiles,
the prompt formatter, snippet ranking, the model dir, the workspace's paths, model loaders), and, in
`assistant/cli/`, the top layer: the `assistant` command. See ARCHITECTURE.md for what may import what.
"""

__version__ = "0.1.0"
