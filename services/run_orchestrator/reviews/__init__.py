"""The review queue of human metrics: leases on pending scores, skips, going back."""
