"""Unit constants and converters. SI inside clustersim: seconds, bytes, FLOP, FLOP/s, bytes/s, USD.

GB is 1e9 bytes and GiB is 2**30 bytes; names say which one they use.
"""

from __future__ import annotations

KB = 1e3
MB = 1e6
GB = 1e9
TB = 1e12
PB = 1e15
KIB = 2.0**10
MIB = 2.0**20
GIB = 2.0**30
TIB = 2.0**40

TFLOP = 1e12
PFLOP = 1e15

MINUTE_S = 60.0
HOUR_S = 3600.0
DAY_S = 86400.0
YEAR_S = 365.25 * DAY_S
MONTH_S = YEAR_S / 12.0

GBIT_PER_S_IN_BYTES_PER_S = 1e9 / 8.0


def gbit_per_s_to_bytes_per_s(gbit_per_s: float) -> float:
    """Network line rate in Gbit/s (10^9 bits) to bytes per second."""
    return gbit_per_s * GBIT_PER_S_IN_BYTES_PER_S


def bytes_to_gib(n_bytes: float) -> float:
    return n_bytes / GIB


def bytes_to_gb(n_bytes: float) -> float:
    return n_bytes / GB


def hours_to_s(hours: float) -> float:
    return hours * HOUR_S


def s_to_days(seconds: float) -> float:
    return seconds / DAY_S


#: Suffixes of a count written like ``15T`` (tokens, parameters): SI multipliers, B = G = 1e9.
COUNT_SUFFIXES = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}


def parse_count(text: str) -> float:
    """A count from ``15T``, ``1.5e12``, ``500M``, ``2B``, ``7_000`` (case-insensitive suffix K, M, B/G, T).

    The same suffixes are accepted on the command line (``--tokens 15T``) and in scenario files
    (``tokens: 15T``). Raises ValueError for anything else.
    """
    t = str(text).strip().upper().replace("_", "").replace(",", "")
    scale = COUNT_SUFFIXES.get(t[-1:], 1.0)
    body = t[:-1] if t[-1:] in COUNT_SUFFIXES else t
    return float(body) * scale
