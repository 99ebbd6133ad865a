"""Benchmarks: scripts that print figures (`make bench`). Targets live here, not in timed tests."""
