"""The password policy (NIST SP 800-63B style): long enough, not a known common
password, not guessable from the account's own name.

The common-password list is the 30,000 most common passwords that the ``zxcvbn``
package ships (MIT licence; the list Dropbox's estimator uses). Its score also
catches what a list cannot: keyboard walks, repeats, dates, dictionary words
with the usual substitutions.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from chartvault.errors import BadInput

MIN_LENGTH = 12
MAX_LENGTH = 128  # argon2 takes any length; this bounds the work of one sign-in
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable", about 10^8 guesses and up


class WeakPassword(BadInput):
    code = "weak_password"


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check(password: str, user_name: str = "") -> None:
    """Raise :class:`WeakPassword` with a reason a person can act on, or return."""
    from zxcvbn import zxcvbn

    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_LENGTH} characters")
    folded = password.casefold()
    if folded in _common() or folded.strip() in _common():
        raise WeakPassword("password is on the list of common passwords: choose another")
    if user_name and user_name.casefold() in folded:
        raise WeakPassword("password must not contain the user name")
    result = zxcvbn(password, user_inputs=[user_name, "chartvault"] if user_name
                    else ["chartvault"])
    if result["score"] < MIN_SCORE:
        hint = result["feedback"].get("warning") or "it is too easy to guess"
        raise WeakPassword(f"password is too weak ({hint.rstrip('.')}): "
                           "a few unrelated words make a strong one")


def generate() -> str:
    """A one-time password for a new or reset account (96 random bits, URL-safe)."""
    return secrets.token_urlsafe(12)
