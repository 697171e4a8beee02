"""The databases: connections, transactions with their retries, and what else differs per
backend (the sweeper lock, streaming), each providing the engine's Session."""
