"""The completion server: LSP in, context -> prompt -> backend -> postprocess, ghost text out."""
