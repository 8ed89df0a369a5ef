"""Benchmarks for trimtab, next to drizzle-kit, migra and psql on the same schema.

``python -m bench --help`` (the suite), ``python -m bench.lsp`` (language-server latency),
``python -m bench.drizzle_schema N`` / ``python -m bench.generate N`` (the schemas).
"""
