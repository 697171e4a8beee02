"""The store's SQL as text: every statement named in queries.sql, its loader and renderer,
the dialects, the tables' columns and the condition renderer. Nothing here runs a statement,
so all of it can be read, and tested, without a database."""
