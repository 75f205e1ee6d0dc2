"""evolve's stand-in for `shinka.utils` (used only when ShinkaEvolve is not installed)."""
