"""Wall time and peak memory of a block of work, measured the same way everywhere."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass

import torch


@dataclass
class Usage:
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    memory_kind: str = ""  # "cuda max allocated" or "process peak RSS"


class measure:
    """Context manager filling a `Usage`: on CUDA the allocator's peak during the block, on CPU the
    process's peak resident set size (a high-water mark of the whole process, so an upper bound)."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.usage = Usage()

    def __enter__(self) -> Usage:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self._start = time.perf_counter()
        return self.usage

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.usage.peak_memory_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
            self.usage.memory_kind = "cuda max allocated"
        else:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.usage.peak_memory_mb = rss / (2**20 if sys.platform == "darwin" else 2**10)
            self.usage.memory_kind = "process peak RSS"
        self.usage.seconds = time.perf_counter() - self._start
