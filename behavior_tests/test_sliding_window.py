"""Behavior tests for generated.ratelimit.sliding_window.

Spec: prompts/ratelimit/sliding_window.prompt. Time comes from a fake clock; no
test sleeps. Times in property tests are multiples of 1/8 so float arithmetic on
them is exact.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generated.ratelimit import sliding_window as sw
from generated.ratelimit.sliding_window import SlidingWindowLimiter


class FakeClock:
    """A manually advanced clock that counts how often it is read."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = float(now)
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def set(self, now: float) -> None:
        self.now = float(now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(limit=2, window=10.0, start=0.0):
    clock = FakeClock(start)
    return SlidingWindowLimiter(limit, window, clock=clock), clock


# --------------------------------------------------------------------------
# surface and construction
# --------------------------------------------------------------------------


@pytest.mark.req("A1")
def test_all():
    assert list(sw.__all__) == ["SlidingWindowLimiter"]


@pytest.mark.req("A1")
def test_properties_are_read_only():
    limiter, _ = make(limit=3, window=10)
    assert limiter.limit == 3
    assert limiter.window == 10.0
    assert isinstance(limiter.window, float)
    with pytest.raises(AttributeError):
        limiter.limit = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        limiter.window = 5.0  # type: ignore[misc]


@pytest.mark.req("A1")
def test_positional_arguments_and_default_clock():
    limiter = SlidingWindowLimiter(1, 60)
    assert limiter.allow("u") is True
    assert limiter.allow("u") is False
    assert 59.0 < limiter.retry_after("u") <= 60.0


@pytest.mark.req("A8")
@pytest.mark.parametrize("limit", [0, -1, True, False, 1.0, 2.5, "3", None])
def test_invalid_limit(limit):
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimiter(limit, 1.0, clock=FakeClock())


@pytest.mark.req("A8")
@pytest.mark.parametrize("window", [0, 0.0, -1, -0.5, math.inf, -math.inf, math.nan, True, "1", None])
def test_invalid_window(window):
    with pytest.raises(ValueError, match="window"):
        SlidingWindowLimiter(1, window, clock=FakeClock())


@pytest.mark.req("A8")
def test_clock_must_be_callable():
    with pytest.raises(TypeError):
        SlidingWindowLimiter(1, 1.0, clock=5.0)  # type: ignore[arg-type]


@pytest.mark.req("A8")
def test_valid_small_values():
    limiter, clock = make(limit=1, window=0.001)
    assert limiter.allow("u")
    assert not limiter.allow("u")
    clock.advance(0.001)
    assert limiter.allow("u")


# --------------------------------------------------------------------------
# the spec's example
# --------------------------------------------------------------------------


@pytest.mark.req("A1")
def test_example_table():
    limiter, clock = make(limit=2, window=10.0)
    clock.set(0)
    assert limiter.allow("a") is True
    clock.set(9)
    assert limiter.allow("a") is True
    assert limiter.allow("a") is False
    assert limiter.remaining("a") == 0
    assert limiter.retry_after("a") == 1.0
    assert limiter.allow("b") is True
    clock.set(10)
    assert limiter.allow("a") is True
    clock.set(11)
    assert limiter.allow("a") is False
    assert limiter.retry_after("a") == 8.0
    clock.set(19)
    assert limiter.remaining("a") == 1


@pytest.mark.req("A2")
def test_not_a_fixed_bucket():
    limiter, clock = make(limit=2, window=10.0)
    clock.set(9)
    assert limiter.allow("u") and limiter.allow("u")
    clock.set(10)  # a fixed [10, 20) bucket would start fresh here
    assert not limiter.allow("u")
    clock.set(18.9)
    assert not limiter.allow("u")
    clock.set(19)
    assert limiter.allow("u") and limiter.allow("u")
    assert not limiter.allow("u")


@pytest.mark.req("A6")
def test_not_a_sliding_log_that_counts_rejections():
    limiter, clock = make(limit=1, window=10.0)
    assert limiter.allow("u")
    for t in (1, 5, 9.5):
        clock.set(t)
        assert not limiter.allow("u")
    clock.set(10)
    assert limiter.allow("u")  # rejected requests at 1, 5, 9.5 did not count


@pytest.mark.req("A2")
def test_expiry_is_exactly_at_t_plus_window():
    limiter, clock = make(limit=1, window=2.5)
    clock.set(100.0)
    assert limiter.allow("u")
    clock.set(102.375)
    assert limiter.remaining("u") == 0
    assert not limiter.allow("u")
    clock.set(102.5)
    assert limiter.remaining("u") == 1
    assert limiter.retry_after("u") == 0.0
    assert limiter.allow("u")


@pytest.mark.req("A1")
def test_same_instant_requests():
    limiter, _ = make(limit=3, window=1.0)
    assert [limiter.allow("u") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.remaining("u") == 0
    assert limiter.retry_after("u") == 1.0


@pytest.mark.req("A5")
def test_users_are_independent_and_any_hashable():
    limiter, clock = make(limit=1, window=5.0)
    users = ["alice", 42, ("tenant", 7), frozenset({1}), None]
    for user in users:
        assert limiter.allow(user) is True
    for user in users:
        assert limiter.allow(user) is False
        assert limiter.remaining(user) == 0
    assert limiter.remaining("bob") == 1
    assert limiter.allow("bob") is True
    # equal values are the same user
    assert limiter.allow(("tenant", 7)) is False


@pytest.mark.req("A5")
def test_unhashable_user_is_type_error():
    limiter, _ = make()
    with pytest.raises(TypeError):
        limiter.allow(["not", "hashable"])  # type: ignore[arg-type]
    assert len(limiter) == 0
    assert limiter.allow("fine")


@pytest.mark.req("A1")
def test_remaining_and_retry_after_record_nothing():
    limiter, clock = make(limit=2, window=10.0)
    for _ in range(10):
        assert limiter.remaining("u") == 2
        assert limiter.retry_after("u") == 0.0
    assert len(limiter) == 0
    assert limiter.allow("u")
    assert limiter.remaining("u") == 1
    assert limiter.retry_after("u") == 0.0
    assert limiter.allow("u")
    assert limiter.remaining("u") == 0


@pytest.mark.req("A3")
def test_retry_after_types_and_values():
    limiter, clock = make(limit=3, window=10.0)
    clock.set(1)
    limiter.allow("u")
    clock.set(2)
    limiter.allow("u")
    clock.set(4)
    limiter.allow("u")
    clock.set(5)
    result = limiter.retry_after("u")
    assert isinstance(result, float)
    assert result == 6.0  # the request at 1 expires at 11
    clock.set(11)
    assert limiter.retry_after("u") == 0.0
    assert limiter.allow("u")
    assert limiter.retry_after("u") == 1.0  # now 2 must expire, at 12
    assert isinstance(limiter.retry_after("never-seen"), float)


@pytest.mark.req("A3")
def test_retry_after_is_exact_wait():
    limiter, clock = make(limit=2, window=7.5)
    for t in (0.0, 0.25):
        clock.set(t)
        limiter.allow("u")
    clock.set(3.0)
    wait = limiter.retry_after("u")
    assert wait == 4.5
    clock.set(3.0 + wait - 0.125)
    assert not limiter.allow("u")
    clock.set(3.0 + wait)
    assert limiter.allow("u")


@pytest.mark.req("A1")
def test_clock_read_at_most_once_per_call():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 10.0, clock=clock)
    for call in (
        lambda: limiter.allow("u"),
        lambda: limiter.remaining("u"),
        lambda: limiter.retry_after("u"),
        lambda: limiter.prune(),
        lambda: limiter.allow("u"),
        lambda: limiter.allow("u"),
        lambda: limiter.retry_after("u"),
    ):
        before = clock.reads
        call()
        assert clock.reads - before <= 1
    before = clock.reads
    len(limiter)
    assert clock.reads == before


@pytest.mark.req("A1")
def test_clock_going_backwards_does_not_raise():
    limiter, clock = make(limit=2, window=10.0, start=100.0)
    limiter.allow("u")
    clock.set(50.0)
    limiter.allow("u")
    limiter.allow("u")
    limiter.remaining("u")
    limiter.retry_after("u")
    limiter.prune()


# --------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------


@pytest.mark.req("A7")
def test_len_counts_stored_users_and_prune_forgets_expired_ones():
    limiter, clock = make(limit=3, window=10.0)
    for i in range(5):
        clock.set(i)
        limiter.allow(f"user{i}")
    assert len(limiter) == 5
    clock.set(12.0)  # users 0, 1, 2 expired; 3 and 4 still live
    limiter.prune()
    assert len(limiter) == 2
    assert limiter.remaining("user3") == 2
    clock.set(100.0)
    limiter.prune()
    assert len(limiter) == 0


@pytest.mark.req("A7")
def test_touching_an_expired_user_forgets_it():
    limiter, clock = make(limit=1, window=10.0)
    limiter.allow("a")
    limiter.allow("b")
    clock.set(10.0)
    assert limiter.remaining("a") == 1
    assert len(limiter) == 1
    assert limiter.retry_after("b") == 0.0
    assert len(limiter) == 0


@pytest.mark.req("A7")
def test_allow_sweeps_users_who_never_come_back():
    limiter, clock = make(limit=5, window=10.0)
    for i in range(1000):
        clock.set(i / 1024)
        assert limiter.allow(("user", i))
    assert len(limiter) == 1000
    clock.set(999 / 1024 + 10.0)  # exactly `window` after the last of them
    assert limiter.allow("x")
    assert len(limiter) == 1


@pytest.mark.req("A7")
def test_steady_traffic_from_many_users_stays_bounded():
    limiter, clock = make(limit=2, window=1.0)
    peak = 0
    for step in range(4000):
        clock.set(step * 0.01)
        limiter.allow(step)  # every request from a new user
        peak = max(peak, len(limiter))
    # at most ~2 windows' worth of users (100 per second) are ever stored
    assert peak <= 250


@pytest.mark.req("A7")
def test_hot_user_with_frozen_clock():
    limiter, clock = make(limit=3, window=1.0)
    results = [limiter.allow("hot") for _ in range(10_000)]
    assert results.count(True) == 3
    assert limiter.retry_after("hot") == 1.0
    clock.advance(1.0)
    assert limiter.remaining("hot") == 3


# --------------------------------------------------------------------------
# reference model
# --------------------------------------------------------------------------


class Reference:
    """The spec, transcribed as directly as possible (exact rationals)."""

    def __init__(self, limit, window):
        self.limit = limit
        self.window = Fraction(window)
        self.accepted = {}

    def live(self, user, now):
        return [t for t in self.accepted.get(user, []) if now - t < self.window]

    def allow(self, user, now):
        if len(self.live(user, now)) < self.limit:
            self.accepted.setdefault(user, []).append(now)
            return True
        return False

    def remaining(self, user, now):
        return self.limit - len(self.live(user, now))

    def retry_after(self, user, now):
        ts = self.live(user, now)
        if len(ts) < self.limit:
            return Fraction(0)
        return ts[len(ts) - self.limit] + self.window - now


eighths = st.integers(min_value=0, max_value=40).map(lambda n: Fraction(n, 8))
ops = st.lists(
    st.tuples(
        st.sampled_from(["allow", "allow", "allow", "remaining", "retry_after", "prune"]),
        st.sampled_from(["a", "b", "c"]),
        eighths,  # time step before the operation
    ),
    max_size=120,
)


@pytest.mark.req("A4")
@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=48).map(lambda n: Fraction(n, 8)),
    ops,
)
def test_matches_reference_model(limit, window, operations):
    clock = FakeClock(0.0)
    limiter = SlidingWindowLimiter(limit, float(window), clock=clock)
    ref = Reference(limit, window)
    now = Fraction(0)
    for op, user, step in operations:
        now += step
        clock.set(float(now))
        if op == "allow":
            assert limiter.allow(user) == ref.allow(user, now)
        elif op == "remaining":
            assert limiter.remaining(user) == ref.remaining(user, now)
        elif op == "retry_after":
            assert Fraction(limiter.retry_after(user)) == ref.retry_after(user, now)
        else:
            limiter.prune()
    # safety: in every window no user has more than `limit` accepted requests
    for user, times in ref.accepted.items():
        for t in times:
            in_window = [s for s in times if t - window < s <= t]
            assert len(in_window) <= limit


@pytest.mark.req("A4")
@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=1, max_value=40).map(lambda n: n / 8),
    st.lists(st.integers(min_value=0, max_value=24).map(lambda n: n / 8), max_size=80),
)
def test_never_more_than_limit_in_any_window(limit, window, steps):
    limiter, clock = make(limit=limit, window=window)
    accepted = []
    for step in steps:
        clock.advance(step)
        if limiter.allow("u"):
            accepted.append(clock.now)
        else:
            # refused only when `limit` accepted requests are live
            live = [t for t in accepted if clock.now - t < window]
            assert len(live) == limit
    for i in range(len(accepted)):
        j = i + limit
        if j < len(accepted):
            assert accepted[j] - accepted[i] >= window


@pytest.mark.req("A3")
@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=40).map(lambda n: n / 8),
    st.lists(st.integers(min_value=0, max_value=16).map(lambda n: n / 8), min_size=1, max_size=30),
)
def test_retry_after_is_exactly_when_allow_succeeds(limit, window, steps):
    limiter, clock = make(limit=limit, window=window)
    for step in steps:
        clock.advance(step)
        limiter.allow("u")
    wait = limiter.retry_after("u")
    assert wait >= 0.0
    assert (wait == 0.0) == (limiter.remaining("u") > 0)
    if wait > 0:
        start = clock.now
        clock.set(start + wait - 1 / 64)
        assert limiter.allow("u") is False
        clock.set(start + wait)
        assert limiter.allow("u") is True


# --------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------


def _hammer(limiter, user, threads, calls):
    results = []
    results_lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker():
        barrier.wait()
        mine = [limiter.allow(user) for _ in range(calls)]
        with results_lock:
            results.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in pool:
            t.start()
        for t in pool:
            t.join(timeout=30)
    finally:
        sys.setswitchinterval(old)
    assert not any(t.is_alive() for t in pool)
    return results


@pytest.mark.req("A9")
def test_concurrent_allow_never_over_admits_with_frozen_clock():
    limiter, _ = make(limit=50, window=60.0)
    results = _hammer(limiter, "shared", threads=8, calls=200)
    assert len(results) == 1600
    assert results.count(True) == 50


@pytest.mark.req("A9")
def test_concurrent_allow_with_a_clock_that_yields():
    class YieldingClock(FakeClock):
        def __call__(self):
            value = super().__call__()
            time.sleep(0)  # give other threads a chance to run mid-call
            return value

    clock = YieldingClock(0.0)
    limiter = SlidingWindowLimiter(20, 60.0, clock=clock)
    results = _hammer(limiter, "shared", threads=8, calls=50)
    assert results.count(True) == 20
    assert limiter.remaining("shared") == 0


class SlowKey:
    """A user key whose hashing yields to other threads (Python-level __hash__)."""

    def __init__(self, name):
        self.name = name

    def __hash__(self):
        time.sleep(0)
        return hash(self.name)

    def __eq__(self, other):
        time.sleep(0)
        return isinstance(other, SlowKey) and other.name == self.name


@pytest.mark.req("A9")
def test_concurrent_first_requests_of_a_new_user_admit_exactly_limit():
    limiter, _ = make(limit=1, window=60.0)
    for round_ in range(40):
        user = SlowKey(f"user{round_}")
        results = _hammer(limiter, user, threads=6, calls=3)
        assert results.count(True) == 1, f"round {round_}: {results.count(True)} admitted"


@pytest.mark.req("A5")
def test_concurrent_users_are_each_limited():
    limiter, _ = make(limit=10, window=60.0)
    counts = {}
    lock = threading.Lock()

    def worker(user):
        n = sum(limiter.allow(user) for _ in range(100))
        with lock:
            counts[user] = counts.get(user, 0) + n

    pool = [threading.Thread(target=worker, args=(f"u{i % 4}",)) for i in range(12)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=30)
    assert counts == {"u0": 10, "u1": 10, "u2": 10, "u3": 10}
