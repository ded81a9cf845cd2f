"""Benchmarks: `python -m bench` (see bench/__main__.py). Kept light: the app probe imports this package."""
