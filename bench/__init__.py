"""Benchmarks: run by hand or with `make bench`, never as tests (see docs/benchmarks.md)."""
