"""Wall time per pipeline stage, summed within a process (read by the benchmark)."""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

seconds: defaultdict[str, float] = defaultdict(float)
_inner: list[float] = []  # time spent in nested stages, per open stage


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the wall time of the block to `seconds[name]`, less that of stages nested in it."""
    start = time.perf_counter()
    _inner.append(0.0)
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        seconds[name] += elapsed - _inner.pop()
        if _inner:
            _inner[-1] += elapsed
