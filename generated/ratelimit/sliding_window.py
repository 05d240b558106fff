"""Exact per-user sliding-window rate limiting.

`SlidingWindowLimiter` accepts at most `limit` requests per user in any span of
`window` seconds. It keeps the timestamps of accepted requests (so the window
slides exactly, with no fixed buckets), takes its time from an injectable clock,
is safe to share between threads, and prunes expired data to bound its memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

__all__ = ["SlidingWindowLimiter"]


class SlidingWindowLimiter:
    """Allow at most `limit` requests per user in any `window`-second span.

    A request accepted at clock reading `t` counts while `now - t < window` and
    stops counting at exactly `t + window`. Rejected requests are not recorded.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create a limiter.

        Args:
            limit: maximum accepted requests per user per window, an int >= 1.
            window: window length in seconds, a finite number > 0.
            clock: returns the current time in seconds; must be non-decreasing.

        Raises:
            ValueError: if `limit` or `window` is invalid.
            TypeError: if `clock` is not callable.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be an int >= 1, got {limit!r}")
        if (
            isinstance(window, bool)
            or not isinstance(window, (int, float))
            or not math.isfinite(window)
            or window <= 0
        ):
            raise ValueError(f"window must be a finite number > 0, got {window!r}")
        if not callable(clock):
            raise TypeError("clock must be callable")
        self._limit = limit
        self._window = float(window)
        self._clock = clock
        self._lock = threading.Lock()
        self._requests: dict[Hashable, deque[float]] = {}
        self._last_sweep = clock()

    @property
    def limit(self) -> int:
        """The maximum number of accepted requests per user per window."""
        return self._limit

    @property
    def window(self) -> float:
        """The window length in seconds."""
        return self._window

    def allow(self, user: Hashable) -> bool:
        """Record and accept a request from `user` if within the limit.

        Returns:
            True if the request is accepted (and recorded), False otherwise.

        Raises:
            TypeError: if `user` is not hashable.
        """
        with self._lock:
            now = self._clock()
            if now - self._last_sweep >= self._window:
                self._sweep(now)
            timestamps = self._live(user, now)
            if timestamps is None:
                timestamps = deque()
                self._requests[user] = timestamps
            if len(timestamps) < self._limit:
                timestamps.append(now)
                return True
            return False

    def remaining(self, user: Hashable) -> int:
        """Return how many more requests `user` may make right now (never negative)."""
        with self._lock:
            timestamps = self._live(user, self._clock())
            count = 0 if timestamps is None else len(timestamps)
            return max(self._limit - count, 0)

    def retry_after(self, user: Hashable) -> float:
        """Return seconds until `allow(user)` would next succeed (0.0 if it would now)."""
        with self._lock:
            now = self._clock()
            timestamps = self._live(user, now)
            if timestamps is None or len(timestamps) < self._limit:
                return 0.0
            oldest = timestamps[len(timestamps) - self._limit]
            return max(float(oldest + self._window - now), 0.0)

    def prune(self) -> None:
        """Drop expired timestamps of all users and forget users with none left."""
        with self._lock:
            self._sweep(self._clock())

    def __len__(self) -> int:
        """Return the number of users currently stored."""
        with self._lock:
            return len(self._requests)

    def _sweep(self, now: float) -> None:
        for user in list(self._requests):
            self._live(user, now)
        self._last_sweep = now

    def _live(self, user: Hashable, now: float) -> deque[float] | None:
        """Drop `user`'s expired timestamps; return the live ones or None if none."""
        timestamps = self._requests.get(user)
        if timestamps is None:
            return None
        while timestamps and now - timestamps[0] >= self._window:
            timestamps.popleft()
        if not timestamps:
            del self._requests[user]
            return None
        return timestamps
