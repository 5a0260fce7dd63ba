"""Benchmarks: `python -m bench.<name>` (`--quick` for a small run) prints figures, not pass/fail."""
