"""Mining: a repository's git history turned into training examples (filters, secrets, middles, split)."""
