"""Parameter domains and what is computed from them, apart from any database.

`grid.py` turns the configured domains into rows, lazily, and hashes each row (the hash that
makes filling idempotent); `sampling.py` draws sampled domains so that a grid can grow
without moving; `priority.py` evaluates `experiment.priority` for a row. The config reads
them, the store fills with them: neither owns them, so they live here, below both.
"""
