"""pytest plugin for scenariod (being written)."""
