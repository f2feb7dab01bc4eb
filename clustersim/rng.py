"""Keyed random streams: one numpy Generator per (seed, replica, stream name).

Streams are derived with :class:`numpy.random.SeedSequence` from the user's seed, the replica index
and a stable hash of the stream's name, so that (a) the same seed gives the same numbers whatever the
number of worker processes, and (b) changing one part of a scenario (say the checkpoint interval)
leaves the draws of every other stream unchanged (common random numbers). No global seeding anywhere.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

__all__ = ["stream", "streams", "stream_key"]


@functools.lru_cache(maxsize=4096)
def stream_key(name: str) -> int:
    """A stable 64-bit integer for a stream name (independent of Python's hash randomisation)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def stream(seed: int, replica: int, name: str) -> np.random.Generator:
    """The Generator for one named stream of one replica."""
    if seed < 0 or replica < 0:
        raise ValueError("seed and replica must be non-negative")
    # entropy [seed, replica, key] as the 32-bit words SeedSequence makes of a list of integers (each
    # integer least significant word first, 0 as one word): the same pool, without numpy's per-item
    # Python conversion (tests/test_sim_streams.py holds the two equal)
    words = [*_words(int(seed)), *_words(int(replica)), *_words(stream_key(name))]
    ss = np.random.SeedSequence(entropy=np.array(words, dtype=np.uint32))
    return np.random.Generator(np.random.PCG64(ss))


def streams(seed: int, replica: int, names: list[str]) -> list[np.random.Generator]:
    """The Generators of several named streams of one replica: ``[stream(seed, replica, n) for n in
    names]``, with the seed's and the replica's entropy words built once."""
    if seed < 0 or replica < 0:
        raise ValueError("seed and replica must be non-negative")
    head = [*_words(int(seed)), *_words(int(replica))]
    keys = [_words(stream_key(n)) for n in names]
    u32 = np.uint32
    return [np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy=np.array([*head, *k], dtype=u32))))
            for k in keys]


def _words(n: int) -> list[int]:
    """A non-negative integer as 32-bit words, least significant first (0: one word)."""
    if n < 2**32:
        return [n]
    out = []
    while n:
        out.append(n & 0xFFFFFFFF)
        n >>= 32
    return out
