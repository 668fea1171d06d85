"""How requests reach a model: a per-model gate (at most N calls at once, a bounded queue
behind them, 503 with Retry-After when it is full) and server-side batching (concurrent
row-format requests merged into one call and split back, as TF Serving's --enable_batching)."""

import asyncio
import collections
import dataclasses

import numpy as np

from kgen.serving.status import invalid_argument
from kgen.serving.status import unavailable

# What an overloaded model tells the client to wait before retrying, in seconds.
RETRY_AFTER_S = 1


class ModelGate:
    """At most `max_concurrent` requests of one model run at once; up to `max_queued` more
    wait their turn in arrival order; beyond that a request is refused at once with
    Unavailable (503, Retry-After), as TF Serving refuses a task when its queue is full."""

    def __init__(self, name, max_concurrent, max_queued):
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.running = 0
        self._waiting = collections.deque()

    @property
    def queued(self):
        return len(self._waiting)

    async def enter(self):
        """Wait for a slot (cancelling the wait, e.g. at the deadline, gives up the place)."""
        if self.running < self.max_concurrent and not self._waiting:
            self.running += 1
            return
        if len(self._waiting) >= self.max_queued:
            raise unavailable(
                f"Model {self.name} is busy: {self.running} requests running and "
                f"{len(self._waiting)} queued (--max-queued-requests {self.max_queued}). "
                f"Retry after {RETRY_AFTER_S} s.",
                retry_after_s=RETRY_AFTER_S,
            )
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn  # `leave` hands its slot over by resolving this
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave()  # the slot arrived as the wait was given up: pass it on
            elif turn in self._waiting:  # `leave` may have dropped it already
                self._waiting.remove(turn)
            raise

    def leave(self):
        """Free a slot: the longest-waiting request takes it over."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.running -= 1


@dataclasses.dataclass
class _Task:
    inputs: dict
    rows: int
    key: tuple
    done: asyncio.Future


class Batcher:
    """Merges concurrent calls of one batchable signature into calls of up to
    `max_batch_size` rows. Requests whose non-batch dimensions differ are never merged.

    Args:
        call: `await call(inputs)` -> outputs, both name -> numpy with rows first.
        options: BatchingOptions.
        on_batch: called with the rows of each merged call (metrics).
    """

    def __init__(self, call, options, on_batch=None):
        self._call = call
        self.options = options
        self._on_batch = on_batch or (lambda rows: None)
        self._queue = collections.deque()
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(options.num_batch_threads)
        self._worker = None
        self._running = set()

    @property
    def queued_rows(self):
        return self._queued_rows

    def enqueue(self, inputs):
        """A future of the outputs for `inputs` alone, computed inside a merged call."""
        rows = _rows(inputs)
        if rows > self.options.max_batch_size:
            raise invalid_argument(
                f"Task size {rows} is larger than maximum input batch size "
                f"{self.options.max_batch_size}"
            )
        limit = self.options.max_batch_size * self.options.max_enqueued_batches
        if self._queued_rows + rows > limit:
            enqueued = -(-self._queued_rows // self.options.max_batch_size)
            raise unavailable(
                "The batch scheduling queue to which this task was submitted is full; currently "
                f"{enqueued} batches enqueued and max_enqueued_batches is "
                f"{self.options.max_enqueued_batches}",
                retry_after_s=RETRY_AFTER_S,
            )
        key = tuple(
            sorted((name, array.shape[1:], array.dtype.str) for name, array in inputs.items())
        )
        task = _Task(inputs, rows, key, asyncio.get_running_loop().create_future())
        self._queue.append(task)
        self._queued_rows += rows
        self._wakeup.set()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._form_batches())
        return task.done

    async def _form_batches(self):
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._slots.acquire()
            batch = await self._next_batch()
            run = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(run)
            run.add_done_callback(self._running.discard)

    async def _next_batch(self):
        """Tasks for one call: wait up to the batch timeout after the first for the batch to
        fill, then take, in order, the tasks that fit and match the first's shapes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.batch_timeout_micros / 1e6
        while self._fitting_rows() < self.options.max_batch_size and loop.time() < deadline:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), deadline - loop.time())
            except TimeoutError:
                break
        first = self._queue[0]
        batch, rows = [], 0
        for task in list(self._queue):
            if task.key != first.key or rows + task.rows > self.options.max_batch_size:
                continue
            batch.append(task)
            rows += task.rows
        for task in batch:
            self._queue.remove(task)
            self._queued_rows -= task.rows
        return batch

    def _fitting_rows(self):
        first = self._queue[0]
        return sum(task.rows for task in self._queue if task.key == first.key)

    async def _run(self, batch):
        try:
            live = [task for task in batch if not task.done.done()]
            if not live:
                return
            merged = {
                name: np.concatenate([task.inputs[name] for task in live])
                for name in live[0].inputs
            }
            self._on_batch(sum(task.rows for task in live))
            try:
                outputs = await self._call(merged)
            except Exception as error:
                for task in live:
                    if not task.done.done():
                        task.done.set_exception(error)
                return
            start = 0
            for task in live:
                part = {name: value[start : start + task.rows] for name, value in outputs.items()}
                start += task.rows
                if not task.done.done():
                    task.done.set_result(part)
        finally:
            self._slots.release()


def _rows(inputs):
    sizes = {array.shape[0] for array in inputs.values()}
    if len(sizes) != 1:
        raise invalid_argument(
            "Batching requires every input to have the same size in its first dimension; "
            f"got {sorted(sizes)}."
        )
    return sizes.pop()
