"""Values whose ``repr()`` or ``str()`` raise: what a record must survive."""

from __future__ import annotations


class ReprRaises:
    """An object whose ``repr()`` raises."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class StrRaises(Exception):
    """An exception whose ``str()`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("str exploded")
