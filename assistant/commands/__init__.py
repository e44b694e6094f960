"""One module per `assistant` command; each has `register(app)`."""
