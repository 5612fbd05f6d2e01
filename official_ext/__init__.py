"""Model Garden additions for trainable-activation research (configs, task, trainer)."""
