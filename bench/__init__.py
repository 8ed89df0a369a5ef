"""Benchmarks for trimtab: a synthetic schema generator and a push-timing harness.

Run with ``python -m bench --help``; generate a schema with ``python -m bench.generate N``.
"""
