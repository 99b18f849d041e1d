"""Errors geoaccess raises for bad input.

Every problem with a user's files or parameters surfaces as an :class:`InputError`
whose message says what is wrong and how to fix it; the CLI prints it without a
traceback and exits with status 2.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a file, column, CRS or parameter that geoaccess cannot use."""


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` with thousands separators and the noun that agrees with it, for messages:
    ``counted(1, "road")`` → ``"1 road"``, ``counted(1200, "road")`` → ``"1,200 roads"``."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def check_positive(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise :class:`InputError` naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return number


def check_choice(name: str, value: str, allowed: "list[str] | tuple[str, ...]") -> str:
    """Return ``value`` if it is one of ``allowed``, else raise naming the parameter."""
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value
