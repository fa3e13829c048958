"""Lowest layer: config location, errors, atomic file writes, the mask scatter/gather."""
