"""Stopping the background tasks the app's parts start: one way, in one place."""

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` (``None`` skipped) and wait until each has ended. Their cancellation is
    what was asked for and ends quietly; the caller's own, should it be cancelled while it
    waits, goes on up."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
