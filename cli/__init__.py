"""The `kgen` command line (Click)."""
