"""Monitors: production calls logged, sampled into windows, each window a run scored like any other."""
