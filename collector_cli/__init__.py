"""collector: find marketplace sellers from best-selling products and keep them in SQLite."""

__version__ = "0.1.0"
