"""Typer commands: parse, call the layers below, render. No SQL and no business rules here."""
