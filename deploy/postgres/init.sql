-- Second database for Dagster's run/event storage (dagster-postgres).
CREATE DATABASE dagster OWNER jonbu;
