"""Product and listing sources, looked up by the name users type."""
