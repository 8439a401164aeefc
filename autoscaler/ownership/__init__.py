"""One writer per target: ownership rules, the Lease adapter and the write gates."""
