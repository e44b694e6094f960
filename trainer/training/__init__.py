"""Training: examples to token sequences, the model a run trains, the run itself, its progress and plots."""
