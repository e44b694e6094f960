"""The trainer, one room per stage: `mining/` (git history to examples), `training/` (examples to a model dir),
`evaluation/` (base against tuned on held-out commits, and pass@k in a sandbox), `export/` (a model dir to GGUF).

It imports the shared layer (`assistant/`) and never the server, except `evaluation/`, which runs the server's
own completion pipeline on purpose so that the scores are those of what an editor would be shown.
"""
