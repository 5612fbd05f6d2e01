"""Command-line tools that are not entry points of training (weights import, fixture making)."""
