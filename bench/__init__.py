"""Benchmarks: `python -m bench NAME [--json]`; each prints its figures beside a baseline
measured in the same run."""
