"""The province emulator behind ``ioc-hub simulate``: every unit of the registry reporting to a
running hub over HTTP, with plausible values, faults and a backfill of history.

``scenario`` is pure (who reports, what values, when they arrive, which faults); ``client`` is
the HTTP side; ``runner`` drives both and reports.
"""
