"""The operations of AsyncScorekeeper, one module per group (catalog, testsets, runs, reads)."""
