"""scripts/bench's parts, one module per concern: the options (cli), the servers as processes (processes), the
PostgreSQL cluster (postgres), the client and the build (client), the runs of each server (stixgate, medallion),
the table (table), and the whole from start to end (main). Python's standard library only, so that it runs with
the system's python3 and nothing installed."""
