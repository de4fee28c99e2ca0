"""The spreadsheet door (docs/design.md §10): a unit's reporting form as XLSX or CSV, and the
filled form uploaded back through the same pipeline as a push."""
