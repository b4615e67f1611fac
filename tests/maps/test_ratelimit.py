"""The login limiter at its edges: the end of the window, the end of a trusted address's time,
and what it forgets first when its memory is full. A manual clock; no web app."""

from __future__ import annotations

from maps import ratelimit
from maps.ratelimit import LoginLimiter
from twin.config import AuthSettings

T0 = 1_000_000.0
DAY = 86400


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **settings) -> LoginLimiter:
    values = {"login_account_failures": 2, "login_address_failures": 100, "login_window_seconds": 60,
              "login_trusted_days": 1} | settings
    return LoginLimiter(AuthSettings(**values), clock=clock)


def test_an_attempt_exactly_at_the_end_of_the_window_is_let_through():
    clock = Clock()
    guard = limiter(clock)
    guard.failed("dana", "a")
    guard.failed("dana", "a")
    clock.now = T0 + 59.5
    assert guard.refusal("dana", "a").retry_after == 1  # half a second left: rounded up, never 0
    clock.now = T0 + 60  # both failures are exactly one window old: out of it
    assert guard.refusal("dana", "a") is None


def test_an_address_lock_ends_exactly_one_window_after_its_oldest_failure():
    clock = Clock()
    guard = limiter(clock, login_address_failures=2)
    guard.failed("tom", "a")
    clock.now = T0 + 10
    guard.failed("ann", "a")
    clock.now = T0 + 59.999
    assert guard.refusal("eve", "a").scope == "address"
    clock.now = T0 + 60  # the first failure leaves; one is left, under the limit of two
    assert guard.refusal("eve", "a") is None
    guard.failed("eve", "a")
    assert guard.refusal("eve", "a").retry_after == 10  # until the failure at T0 + 10 leaves


def test_a_trusted_address_stops_being_trusted_exactly_when_its_time_ends():
    clock = Clock()
    guard = limiter(clock)
    guard.succeeded("dana", "home")  # trusted until T0 + 1 day
    clock.now = T0 + DAY - 30
    guard.failed("dana", "attacker")
    guard.failed("dana", "attacker")
    assert guard.refusal("dana", "attacker").scope == "account"
    clock.now = T0 + DAY - 0.001
    assert guard.refusal("dana", "home") is None  # still trusted: the user gets in
    clock.now = T0 + DAY
    refused = guard.refusal("dana", "home")  # trusted no longer, and the lock is still on
    assert refused is not None and refused.scope == "account" and refused.retry_after == 30


def test_no_address_is_trusted_when_trust_is_off():
    clock = Clock()
    guard = limiter(clock, login_trusted_days=0)
    guard.succeeded("dana", "home")
    guard.failed("dana", "attacker")
    guard.failed("dana", "attacker")
    assert guard.refusal("dana", "home").scope == "account"


def test_a_full_limiter_forgets_the_address_that_failed_least_recently():
    clock = Clock()
    guard = limiter(clock, login_address_failures=1)
    for i in range(ratelimit.MAX_KEYS):
        guard.failed("x", f"10.0.{i}")
    guard.failed("x", "10.0.0")  # failing again makes the first address the most recent one
    assert guard.refusal("y", "10.0.0") is not None and guard.refusal("y", "10.0.1") is not None
    guard.failed("x", "new")  # one more than the limiter holds: the least recently failed goes
    assert guard.refusal("y", "10.0.1") is None
    assert guard.refusal("y", "10.0.0") is not None and guard.refusal("y", "10.0.2") is not None
    assert guard.refusal("y", "new") is not None
    last = f"10.0.{ratelimit.MAX_KEYS - 1}"
    assert guard.refusal("y", last) is not None


def test_a_full_limiter_forgets_the_least_recently_trusted_address():
    clock = Clock()
    guard = limiter(clock)
    for i in range(ratelimit.MAX_KEYS):
        guard.succeeded(f"user-{i}", "home")
    guard.succeeded("user-0", "home")  # logging in again renews the first pair
    guard.succeeded("dana", "home")  # one pair more than the limiter holds: user-1's trust goes
    for name in ("user-0", "user-1", "user-2", "dana"):
        guard.failed(name, "attacker")
        guard.failed(name, "attacker")
    assert guard.refusal("user-1", "home").scope == "account"
    assert [guard.refusal(name, "home") for name in ("user-0", "user-2", "dana")] == [None, None, None]
