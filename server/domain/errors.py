"""What went wrong, in the domain's words.

Domain, security and audit code raise ``DomainError`` with a kind (not found,
conflict, invalid, ...), a stable code for programs, a message for people and
a catalogue key for pages. They never name an HTTP status: the one table that
turns a kind into a status and a JSON body is ``server/web/errors.py``.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    invalid = "invalid"  # the input is malformed or breaks a rule of its own
    unauthenticated = "unauthenticated"  # nobody is signed in, or the credentials are wrong
    forbidden = "forbidden"  # signed in, but this role or person may not
    not_found = "not_found"  # no such thing (or not one the caller may know of)
    conflict = "conflict"  # the thing exists but its state does not allow it now
    gone = "gone"  # it existed and has ended for good (an expired or revoked link)
    rate_limited = "rate_limited"  # too many attempts; ``retry_after`` says when to try again
    too_large = "too_large"  # the input is bigger than allowed
    unsupported = "unsupported"  # the input comes in a form this operation does not take


class DomainError(Exception):
    """A refusal with a stable ``code`` (e.g. ``session-closed``), an English
    ``message`` for logs and integrators, and ``key`` for the page catalogue
    (``params`` fill its sentence, e.g. the other appointment of a double booking).
    Extra keyword arguments (``fields``, ``retry_after``) travel to the caller."""

    def __init__(self, kind: ErrorKind, code: str, message: str, *, key: str | None = None, params: dict | None = None, **extra):
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.key = key or f"error.{code}"
        self.params = params or {}
        self.extra = extra

    def __repr__(self) -> str:
        return f"DomainError({self.kind.value!r}, {self.code!r}, {self.message!r})"


def not_found(what: str = "resource") -> DomainError:
    return DomainError(ErrorKind.not_found, "not-found", f"No such {what}.")


def forbidden(message: str = "You may not do that.") -> DomainError:
    return DomainError(ErrorKind.forbidden, "forbidden", message)


def invalid(field: str, problem: str, code: str = "invalid-body") -> DomainError:
    return DomainError(ErrorKind.invalid, code, f"{field}: {problem}", fields={field: problem})


def conflict(code: str, message: str) -> DomainError:
    return DomainError(ErrorKind.conflict, code, message)
