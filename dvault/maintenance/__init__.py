"""Maintenance: repair a damaged store and collect garbage, with explicit safety margins."""
