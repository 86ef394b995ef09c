"""One retry backoff policy, shared by device reconnects (``devices/session.py``) and the delivery outbox
(``fhir_out/outbox.py``).

Exponential backoff with jitter, the two formulas of the AWS Architecture Blog "Exponential Backoff And Jitter"
(Marc Brooker, 2015):

- **full jitter**: the ``n``-th retry waits ``uniform(0, min(cap, base * 2**(n - 1)))``; retries of many clients
  that failed together spread over the whole window instead of arriving in waves;
- **decorrelated jitter**: the ``n``-th retry waits ``min(cap, uniform(base, 3 * previous))`` (``previous`` = the
  delay before the previous retry, ``base`` for the first one), growing about as fast without a shared schedule.

The policy is a frozen value; randomness comes from a :class:`random.Random` the caller owns, so a test seeds it
(``random.Random(1)``) and gets the same delays every run. Nothing here sleeps: callers decide how to wait (a
device session sleeps, the outbox schedules the row's next attempt).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from asalee_devices.errors import InputError

__all__ = ["Backoff", "Jitter"]

#: Exponents above this cannot change ``min(cap, base * 2**n)`` for any cap a person would configure, and
#: ``2.0 ** 1024`` overflows: the doubling stops here.
_MAX_EXPONENT = 64


class Jitter(enum.Enum):
    """How a delay is drawn inside its exponential window."""

    FULL = "full"
    DECORRELATED = "decorrelated"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, capped, for at most ``max_attempts`` tries.

    Parameters
    ----------
    base_s : float
        Window of the first retry, in seconds (>= 0; 0 retries at once, useful in tests).
    cap_s : float
        Longest delay, in seconds (>= ``base_s``).
    max_attempts : int
        Tries in all, the first one included (>= 1): a policy of 3 allows 2 retries.
    jitter : Jitter
        :attr:`Jitter.FULL` (default) or :attr:`Jitter.DECORRELATED`.

    Raises
    ------
    InputError
        A negative or non-finite ``base_s``, ``cap_s`` below ``base_s``, ``max_attempts`` below 1.
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    max_attempts: int = 3
    jitter: Jitter = Jitter.FULL

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base_s) and self.base_s >= 0):
            raise InputError("Invalid backoff base", field="base_s", value=self.base_s, expected="a finite value >= 0 s")
        if not (math.isfinite(self.cap_s) and self.cap_s >= self.base_s):
            raise InputError("Invalid backoff cap", field="cap_s", value=self.cap_s,
                             expected=f"a finite value >= base_s ({self.base_s} s)")
        if self.max_attempts < 1:
            raise InputError("Invalid number of attempts", field="max_attempts", value=self.max_attempts,
                             expected=">= 1")

    def window_s(self, retry: int) -> float:
        """Upper bound of the ``retry``-th delay under full jitter: ``min(cap, base * 2**(retry - 1))``.

        Parameters
        ----------
        retry : int
            1 for the first retry (after the first failed attempt), 2 for the second...

        Returns
        -------
        float
            Seconds.
        """
        exponent = min(max(0, retry - 1), _MAX_EXPONENT)
        return min(self.cap_s, self.base_s * 2.0 ** exponent)

    def delay_s(self, retry: int, rng: random.Random, previous_s: float | None = None) -> float:
        """The delay before the ``retry``-th retry.

        Parameters
        ----------
        retry : int
            1 for the first retry (after the first failed attempt), 2 for the second...
        rng : random.Random
            Source of the jitter (seed it in tests).
        previous_s : float, optional
            Decorrelated jitter only: the delay before the previous retry (``base_s`` when absent, i.e. the
            first retry, or when the caller did not keep it).

        Returns
        -------
        float
            Seconds, in ``[0, cap_s]``.
        """
        if self.jitter is Jitter.DECORRELATED:
            prev = self.base_s if previous_s is None else max(self.base_s, previous_s)
            return min(self.cap_s, rng.uniform(self.base_s, 3.0 * prev))
        return rng.uniform(0.0, self.window_s(retry))

    def delays_s(self, rng: random.Random) -> Iterator[float]:
        """The ``max_attempts - 1`` delays of one retry sequence, in order (the previous delay fed to the next
        under decorrelated jitter).

        Parameters
        ----------
        rng : random.Random
            Source of the jitter.

        Yields
        ------
        float
            Seconds before retry 1, 2, ... ``max_attempts - 1``.
        """
        previous: float | None = None
        for retry in range(1, self.max_attempts):
            previous = self.delay_s(retry, rng, previous)
            yield previous

    def gives_up(self, attempts: int) -> bool:
        """True when ``attempts`` tries have used the policy up (no retry left).

        Parameters
        ----------
        attempts : int
            Tries made so far, the first one included.

        Returns
        -------
        bool
        """
        return attempts >= self.max_attempts
