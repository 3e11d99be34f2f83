"""Runs: kickoff, the lifecycle, records and their scoring, re-scoring, ingest, dead letters."""
