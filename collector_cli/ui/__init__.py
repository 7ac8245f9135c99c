"""Rendering: the live run view, plain and JSON reporters, tables. Only cli/ and ui/ use rich."""
