"""Which samples each rank trains on at each step, and how packed rows are filled.

The order is a pure function of (seed, epoch, step), so every process, and a resumed run, sees exactly
the micro-batches an uninterrupted single-process run would have summed (``StepSampler``); packing
balances rows by token count (``pack_rows``). Torch-free: plain index arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np


def item_seed(seed: int, step: int, pos: int) -> int:
    return (seed * 1_000_003 + step * 7919 + pos) % (2**63 - 1)


class StepSampler:
    """Micro-batches of this process for optimiser steps ``start_step`` .. ``total_steps - 1``.

    Step ``s`` uses global batch ``s`` of its epoch. A global batch (``global_batch`` samples) is cut
    into ``global_batch / micro`` micro-batches; micro-batch ``j`` goes to rank ``j % world`` as its
    ``j // world``-th accumulation slot. With ``group_by_length`` each window of ``group_window`` global
    batches is sorted by length before being cut (then batch order is shuffled), so micro-batches hold
    samples of similar length. Files are mixed by weight: file ``f`` contributes ``weight * n_f`` samples
    per epoch (whole copies plus a fresh random subset). Yields lists of ``(position, seed)``.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        per_file: list[list[int]],
        weights: Sequence[float],
        *,
        global_batch: int,
        micro_batch: int,
        world_size: int = 1,
        rank: int = 0,
        seed: int = 0,
        group_by_length: bool = True,
        group_window: int = 8,
        start_step: int = 0,
        total_steps: int | None = None,
    ) -> None:
        if global_batch % (micro_batch * world_size):
            raise ValueError(
                f"global batch {global_batch} not divisible by micro batch {micro_batch} x {world_size} processes"
            )
        self.lengths = np.asarray(lengths)
        self.per_file = [np.asarray(p, dtype=np.int64) for p in per_file]
        self.weights = list(weights)
        self.global_batch, self.micro_batch = global_batch, micro_batch
        self.world_size, self.rank, self.seed = world_size, rank, seed
        self.group_by_length, self.group_window = group_by_length, max(1, group_window)
        self.accum = global_batch // (micro_batch * world_size)
        self.epoch_size = sum(
            math.floor(w) * len(p) + round((w - math.floor(w)) * len(p))
            for p, w in zip(self.per_file, self.weights)
        )
        self.steps_per_epoch = self.epoch_size // global_batch
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"{self.epoch_size} samples per epoch is less than one global batch of {global_batch}"
            )
        self.start_step = start_step
        self.total_steps = total_steps if total_steps is not None else self.steps_per_epoch
        self._cache: tuple[int, np.ndarray] | None = None

    def epoch_order(self, epoch: int) -> np.ndarray:
        """All sample positions of ``epoch``, arranged so consecutive ``global_batch`` slices are steps."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        parts = []
        for pos, w in zip(self.per_file, self.weights):
            whole = math.floor(w)
            parts += [pos] * whole
            extra = round((w - whole) * len(pos))
            if extra:
                parts.append(rng.choice(pos, size=extra, replace=False))
        order = rng.permutation(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        g = self.global_batch
        order = order[: self.steps_per_epoch * g]  # drop the last partial global batch
        if self.group_by_length:
            window = g * self.group_window
            batches = []
            for start in range(0, len(order), window):
                chunk = order[start : start + window]
                chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
                batches += [chunk[i : i + g] for i in range(0, len(chunk), g)]
            order = np.concatenate([batches[i] for i in rng.permutation(len(batches))])
        self._cache = (epoch, order)
        return order

    def step_batches(self, step: int) -> list[list[tuple[int, int]]]:
        """This process's ``accum`` micro-batches for optimiser step ``step``."""
        epoch, k = divmod(step, self.steps_per_epoch)
        batch = self.epoch_order(epoch)[k * self.global_batch : (k + 1) * self.global_batch]
        micros = [batch[i : i + self.micro_batch] for i in range(0, len(batch), self.micro_batch)]
        mine = micros[self.rank :: self.world_size]
        return [[(int(p), item_seed(self.seed, step, int(p))) for p in m] for m in mine]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start_step, self.total_steps):
            yield from self.step_batches(step)

    def __len__(self) -> int:
        return (self.total_steps - self.start_step) * self.accum


# --------------------------------------------------------------------------- collation
def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Sample indices per row, every row's total length <= ``capacity``, rows balanced.

    First-fit decreasing finds how many rows are needed; the samples are then dealt longest first to the
    least-filled row that has room, so rows end up nearly equal and the batch tensor (as wide as the
    fullest row) holds little padding.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    if order and lengths[order[0]] > capacity:
        raise ValueError(f"sample of {lengths[order[0]]} tokens does not fit a packed row of {capacity}")
    room: list[int] = []
    for i in order:  # first-fit decreasing: the number of rows
        r = next((r for r, free in enumerate(room) if lengths[i] <= free), None)
        if r is None:
            room.append(capacity - lengths[i])
        else:
            room[r] -= lengths[i]
    rows: list[list[int]] = [[] for _ in room]
    load = [0] * len(room)
    for i in order:  # balanced: least-filled row with room (a new row if none has room)
        fits = [r for r in range(len(rows)) if load[r] + lengths[i] <= capacity]
        if not fits:
            rows.append([])
            load.append(0)
            fits = [len(rows) - 1]
        r = min(fits, key=lambda r: (load[r], r))
        rows[r].append(i)
        load[r] += lengths[i]
    _rebalance(rows, load, lengths)
    return [row for row in rows if row]


def _rebalance(rows: list[list[int]], load: list[int], lengths: Sequence[int], max_moves: int = 200) -> None:
    """Move or swap samples out of the fullest row while that lowers it (each move strictly lowers the
    sum of squared loads, so this ends)."""
    for _ in range(max_moves):
        m = max(range(len(rows)), key=lambda r: (load[r], -r))
        best = None
        for a in rows[m]:
            for r in range(len(rows)):
                if r == m:
                    continue
                if load[r] + lengths[a] < load[m]:
                    best = (a, r, None)
                    break
                for b in rows[r]:
                    delta = lengths[a] - lengths[b]
                    if delta > 0 and load[r] + delta < load[m]:
                        best = (a, r, b)
                        break
                if best:
                    break
            if best:
                break
        if best is None:
            return
        a, r, b = best
        rows[m].remove(a)
        rows[r].append(a)
        load[m] -= lengths[a]
        load[r] += lengths[a]
        if b is not None:
            rows[r].remove(b)
            rows[m].append(b)
            load[r] -= lengths[b]
            load[m] += lengths[b]
