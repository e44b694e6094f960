"""Training: examples to token sequences and batches, the model a run trains, the Trainer that trains it,
the run dir, its time box, plan, progress and plots."""
