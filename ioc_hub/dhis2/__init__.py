"""The DHIS2 door (docs/design.md §10): ``/api/dataValueSets`` in DHIS2's own JSON, feeding the
same row pipeline as a native push."""
