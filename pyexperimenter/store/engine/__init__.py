"""The store's behaviour over SQL: one module per concern, each working through the public
Session of session.py (never a store), wired into the Store port by sqlstore.py."""
