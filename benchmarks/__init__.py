"""Micro-benchmarks for freqlab (run a module with ``python -m benchmarks.<name>``)."""
