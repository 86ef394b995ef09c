"""Deterministic numpy signal generators used by simulators, tests, the demo and benchmarks."""
