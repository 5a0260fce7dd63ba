"""Where the seeds of replayable random draws come from (the weighted pick among partners).

A seed is stored with each decision, so a draw can be replayed whatever its source. Production
draws seeds at random; tests inject a seeded source so every pick, and every count of picks a
test asserts on, is the same on every run.
"""

from __future__ import annotations

import random
import secrets
from abc import ABC, abstractmethod

SEED_BITS = 62  # fits the decision's BIGINT column


class SeedSource(ABC):
    """A base class rather than a Protocol, like `Clock`, so it can be injected by type."""

    @abstractmethod
    def next_seed(self) -> int:
        """A fresh non-negative seed below 2**SEED_BITS."""


class SystemSeeds(SeedSource):
    def next_seed(self) -> int:
        return secrets.randbits(SEED_BITS)


class SeededSeeds(SeedSource):
    """A fixed sequence of seeds from one master seed: tests and demos."""

    def __init__(self, master: int) -> None:
        self._random = random.Random(master)  # noqa: S311 - reproducible on purpose, not secrecy

    def next_seed(self) -> int:
        return self._random.getrandbits(SEED_BITS)
