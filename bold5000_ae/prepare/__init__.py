"""Raw BOLD5000 files (or the synthetic generator's) -> one prepared HDF5 file."""
