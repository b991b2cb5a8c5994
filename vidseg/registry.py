"""Name lookup for the registries (strategies, granularities): one error that lists the choices."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def look_up(registry: dict[str, T], kind: str, name: str) -> T:
    """``registry[name]``; a ValueError naming the ``kind`` and every choice otherwise."""
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}: choose one of {', '.join(registry)}") from None
