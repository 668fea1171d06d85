"""Small helpers with no model knowledge."""
