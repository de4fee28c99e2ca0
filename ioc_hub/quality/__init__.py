"""Data quality (docs/design.md §9): outliers and follow-up."""
