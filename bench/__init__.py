"""Benchmark harnesses; the tables they print are quoted in docs/performance.md."""
