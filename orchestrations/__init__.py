"""Durable orchestrators: deterministic, no I/O, clocks or randomness (those live in activities/)."""
