"""Observations' yearly partitions on PostgreSQL: made ahead, listed, detached for archiving."""
