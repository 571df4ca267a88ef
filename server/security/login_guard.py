"""Who may try a password now: the sign-in limits.

The review (issue #12) found two faults in the old rule "5 failures per
address and 5 per username, 5 minutes": parallel guesses passed the check
before any was counted, and anyone could lock a named staff member out from
anywhere with five wrong passwords. The rule now:

* **Per address** (``login_max_failures`` per ``login_window_seconds``): one
  address guessing, whatever usernames it tries. This also bounds every
  (username, address) pair, so the real staff member on their own address is
  never held back by someone else's guesses.
* **Per username, a higher ceiling** (``login_user_max_failures``): guessing
  one account from many addresses. Locking a name out now takes that many
  failures from at least ceiling / per-address different addresses.
* **A growing pause** on each failed answer, doubling with every
  ``login_max_failures`` failures the username has collected: slows a
  distributed guesser without ever delaying a correct password.

Attempts are *reserved* before the password is verified and given back when it
is right, so twenty parallel guesses get the same 401s and 429s as twenty in a row.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.security.ratelimit import RateLimiter

BASE_PAUSE = 0.3  # seconds a failed sign-in waits before answering
MAX_PAUSE = 5.0


def failure_pause(user_failures: int, per_address: int) -> float:
    """Seconds a failed answer waits, given the username's failures in the window."""
    steps = max(user_failures - 1, 0) // max(per_address, 1)
    return min(BASE_PAUSE * 2 ** min(steps, 8), MAX_PAUSE)


@dataclass
class LoginGuard:
    by_address: RateLimiter
    by_username: RateLimiter

    @classmethod
    def from_settings(cls, settings) -> "LoginGuard":
        return cls(
            RateLimiter(settings.login_max_failures, settings.login_window_seconds),
            RateLimiter(settings.login_user_max_failures, settings.login_window_seconds),
        )

    @staticmethod
    def _keys(address: str, username: str) -> tuple[str, str]:
        return f"ip:{address}", f"user:{username.lower()}"

    def reserve(self, address: str, username: str) -> float:
        """0 if this attempt may go ahead (and it is counted), else seconds to wait."""
        ip, user = self._keys(address, username)
        wait = max(self.by_address.blocked(ip), self.by_username.blocked(user))
        if wait > 0:
            return wait
        # No await between the check above and the count below: that is the reservation.
        self.by_address.hit(ip)
        self.by_username.hit(user)
        return 0.0

    def succeeded(self, address: str, username: str) -> None:
        ip, user = self._keys(address, username)
        self.by_address.release(ip)
        self.by_username.reset(user)

    def pause_after_failure(self, username: str) -> float:
        return failure_pause(self.by_username.count(self._keys("", username)[1]), self.by_address.max_events)
