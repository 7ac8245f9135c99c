"""The SQLite store: the only package that writes SQL."""

from collector_cli.store.db import Store, default_db_path, open_store

__all__ = ["Store", "default_db_path", "open_store"]
