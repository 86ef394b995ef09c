"""The shared backoff policy: full and decorrelated jitter as the AWS "Exponential Backoff And Jitter" article
defines them, capped, reproducible with a seeded generator, refusing impossible settings."""

from __future__ import annotations

import random
import statistics

import pytest

from asalee_devices.backoff import Backoff, Jitter
from asalee_devices.errors import InputError


def test_full_jitter_windows_double_up_to_the_cap() -> None:
    b = Backoff(base_s=0.5, cap_s=30.0, max_attempts=12)
    assert [b.window_s(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    rng = random.Random(7)
    for n in range(1, 12):
        got = [b.delay_s(n, rng) for _ in range(2000)]
        assert 0.0 <= min(got) and max(got) <= b.window_s(n)
        # uniform over the whole window: the mean is half of it (2000 draws: within 5 %)
        assert statistics.fmean(got) == pytest.approx(b.window_s(n) / 2, rel=0.05)
        assert min(got) < 0.05 * b.window_s(n)  # full jitter reaches down to 0, not only the upper half


def test_full_jitter_is_the_articles_formula() -> None:
    """sleep = random_between(0, min(cap, base * 2 ** attempt)), the same draws from the same seed."""
    b = Backoff(base_s=0.2, cap_s=10.0, max_attempts=8)
    ours = list(b.delays_s(random.Random(3)))
    ref_rng = random.Random(3)
    ref = [ref_rng.uniform(0, min(10.0, 0.2 * 2 ** attempt)) for attempt in range(7)]
    assert ours == ref and len(ours) == 7


def test_decorrelated_jitter_is_the_articles_formula() -> None:
    """sleep = min(cap, random_between(base, sleep * 3)), sleep starting at base."""
    b = Backoff(base_s=0.5, cap_s=20.0, max_attempts=30, jitter=Jitter.DECORRELATED)
    ours = list(b.delays_s(random.Random(11)))
    ref_rng = random.Random(11)
    ref, sleep = [], 0.5
    for _ in range(29):
        sleep = min(20.0, ref_rng.uniform(0.5, sleep * 3))
        ref.append(sleep)
    assert ours == ref
    assert all(0.5 <= d <= 20.0 for d in ours) and max(ours) == 20.0  # reached the cap and stayed under it


def test_seeded_generator_repeats_and_differs_between_seeds() -> None:
    b = Backoff(base_s=1.0, cap_s=60.0, max_attempts=6)
    assert list(b.delays_s(random.Random(1))) == list(b.delays_s(random.Random(1)))
    assert list(b.delays_s(random.Random(1))) != list(b.delays_s(random.Random(2)))


def test_huge_retry_numbers_stay_at_the_cap() -> None:
    b = Backoff(base_s=2.0, cap_s=3600.0, max_attempts=10)
    assert b.window_s(5000) == 3600.0 and 0 <= b.delay_s(10**9, random.Random(0)) <= 3600.0
    assert Backoff(base_s=0.0, cap_s=0.0).delay_s(3, random.Random(0)) == 0.0  # tests retry at once


def test_attempt_budget() -> None:
    b = Backoff(max_attempts=3)
    assert len(list(b.delays_s(random.Random(0)))) == 2
    assert (b.gives_up(2), b.gives_up(3)) == (False, True)
    assert list(Backoff(max_attempts=1).delays_s(random.Random(0))) == []


@pytest.mark.parametrize(("kw", "field"), [
    ({"base_s": -1.0}, "base_s"), ({"base_s": float("nan")}, "base_s"), ({"base_s": float("inf")}, "base_s"),
    ({"base_s": 2.0, "cap_s": 1.0}, "cap_s"), ({"cap_s": float("inf")}, "cap_s"),
    ({"max_attempts": 0}, "max_attempts"),
])
def test_impossible_settings_refused(kw: dict[str, float], field: str) -> None:
    with pytest.raises(InputError) as exc:
        Backoff(**kw)  # type: ignore[arg-type]
    assert exc.value.field == field


def test_frozen() -> None:
    b = Backoff()
    with pytest.raises(AttributeError):
        b.base_s = 3.0  # type: ignore[misc]
