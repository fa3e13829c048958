"""Training-loop safety: Lightning callbacks and plugins that keep long runs recoverable."""
