"""Benchmarks that print ratios measured in one run (absolute times drift on a noisy machine)."""
