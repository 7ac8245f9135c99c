"""Derived figures (markup, persistence, growth, score) and the HTML report."""
