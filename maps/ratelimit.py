"""Login rate limits: failed logins counted per account and per client address over a sliding window.

    limiter = LoginLimiter(settings.auth)
    wait = limiter.refusal(name, address)      # None, or a Refusal with its Retry-After
    ... check the password ...
    limiter.failed(name, address) / limiter.succeeded(name, address)

An account with `login_account_failures` failures in the window is refused (429) from every
address except those it logged in from in the last `login_trusted_days`: an attacker guessing
from elsewhere locks the account against themselves, not against its user at their usual
address. An address with `login_address_failures` failures over all accounts is refused for
every account. A refused attempt is not counted, so a lock ends at most one window after the
failure that set it. The counts live in this process's memory, bounded in size.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from twin.config import AuthSettings

__all__ = ["LoginLimiter", "Refusal"]

MAX_KEYS = 100_000  # accounts, addresses and trusted pairs each; the least recently used go first


@dataclass(frozen=True, slots=True)
class Refusal:
    scope: str  # "account" or "address"
    retry_after: int  # whole seconds, at least 1

    @property
    def message(self) -> str:
        what = "this account" if self.scope == "account" else "this address"
        return f"too many failed logins for {what}; try again in {self.retry_after} s"


class _Windows:
    """Failure times per key, oldest first, dropped once out of the window."""

    def __init__(self, window: float):
        self.window = window
        self.times: OrderedDict[str, deque[float]] = OrderedDict()

    def count(self, key: str, now: float) -> tuple[int, float]:
        """(failures in the window, when the oldest of them leaves it)."""
        times = self.times.get(key)
        if times is None:
            return 0, now
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.times[key]
            return 0, now
        return len(times), times[0] + self.window

    def add(self, key: str, now: float, limit: int) -> None:
        times = self.times.setdefault(key, deque(maxlen=limit))
        times.append(now)
        self.times.move_to_end(key)
        while len(self.times) > MAX_KEYS:
            self.times.popitem(last=False)

    def clear(self, key: str) -> None:
        self.times.pop(key, None)


class LoginLimiter:
    def __init__(self, settings: AuthSettings, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        self.accounts = _Windows(settings.login_window_seconds)
        self.addresses = _Windows(settings.login_window_seconds)
        self.trusted: OrderedDict[tuple[str, str], float] = OrderedDict()  # (account, address) -> until

    @staticmethod
    def _account(name: str) -> str:
        return name.strip().casefold()

    def _is_trusted(self, account: str, address: str, now: float) -> bool:
        until = self.trusted.get((account, address))
        return until is not None and until > now

    def refusal(self, name: str, address: str) -> Refusal | None:
        """Why a login for `name` from `address` is refused right now, or None if it may be tried."""
        now = self.clock()
        count, free_at = self.addresses.count(address, now)
        if count >= self.settings.login_address_failures:
            return Refusal("address", max(1, math.ceil(free_at - now)))
        account = self._account(name)
        count, free_at = self.accounts.count(account, now)
        if count >= self.settings.login_account_failures and not self._is_trusted(account, address, now):
            return Refusal("account", max(1, math.ceil(free_at - now)))
        return None

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        self.accounts.add(self._account(name), now, self.settings.login_account_failures)
        self.addresses.add(address, now, self.settings.login_address_failures)

    def succeeded(self, name: str, address: str) -> None:
        """The account's failures are forgotten and the address is trusted for it; the address's own
        failures stay, so logging into one's own account does not buy more guesses at others."""
        account = self._account(name)
        self.accounts.clear(account)
        if self.settings.login_trusted_days > 0:
            self.trusted[(account, address)] = self.clock() + self.settings.login_trusted_days * 86400
            self.trusted.move_to_end((account, address))
            while len(self.trusted) > MAX_KEYS:
                self.trusted.popitem(last=False)
