"""pgbilling: an order -> invoice -> payment billing schema for PostgreSQL, and its thin runner."""

__version__ = "0.1.0"
