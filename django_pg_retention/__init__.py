"""PostgreSQL enforces data-retention policies for soft-deleted Django rows."""

__version__ = "0.1.0"
