"""Stopping background tasks (kit/tasks.py): their cancellation ends quietly, the caller's own
does not."""

import asyncio

import pytest

from ioc_hub.kit.tasks import cancel_and_wait


async def test_tasks_are_cancelled_and_awaited_quietly() -> None:
    forever = asyncio.create_task(asyncio.sleep(3600))
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await cancel_and_wait(forever, None, done)
    assert forever.cancelled()
    assert not done.cancelled()


async def test_a_task_that_fails_while_stopping_raises() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("could not close") from None

    task = asyncio.create_task(fails_on_cancel())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="could not close"):
        await cancel_and_wait(task)


async def test_the_stoppers_own_cancellation_goes_on_up() -> None:
    let_go = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await let_go.wait()  # a shutdown that takes its time
            raise

    stubborn = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(stubborn))
    await asyncio.sleep(0.01)
    assert not stopper.done()
    stopper.cancel()
    let_go.set()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    assert stopper.cancelled()
    assert stubborn.done()
