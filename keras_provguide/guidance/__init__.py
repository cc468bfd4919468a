"""Provenance-based input-gradient guidance."""
