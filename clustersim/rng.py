"""Keyed random streams: one numpy Generator per (seed, replica, stream name).

Streams are derived with :class:`numpy.random.SeedSequence` from the user's seed, the replica index
and a stable hash of the stream's name, so that (a) the same seed gives the same numbers whatever the
number of worker processes, and (b) changing one part of a scenario (say the checkpoint interval)
leaves the draws of every other stream unchanged (common random numbers). No global seeding anywhere.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["stream", "stream_key"]


def stream_key(name: str) -> int:
    """A stable 64-bit integer for a stream name (independent of Python's hash randomisation)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def stream(seed: int, replica: int, name: str) -> np.random.Generator:
    """The Generator for one named stream of one replica."""
    if seed < 0 or replica < 0:
        raise ValueError("seed and replica must be non-negative")
    ss = np.random.SeedSequence(entropy=[int(seed), int(replica), stream_key(name)])
    return np.random.Generator(np.random.PCG64(ss))
