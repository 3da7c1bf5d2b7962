"""Replay benchmark: mixture-search methods compared on tables of finished runs (`admire-jax replay`)."""
