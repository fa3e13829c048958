"""Every figure: brain slices and helpers that hand figures to the loggers."""
