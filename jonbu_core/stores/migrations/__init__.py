"""Versioned SQL migrations of the PostgreSQL store (``NNNN_name.up.sql`` / ``.down.sql``)."""
