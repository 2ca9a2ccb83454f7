"""Names: snake_case in Python, camelCase on the wire, kebab-case in URLs and resources."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@lru_cache(maxsize=4096)
def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@lru_cache(maxsize=4096)
def to_snake(name: str) -> str:
    return _WORD_BOUNDARY.sub("_", name.replace("-", "_")).lower()


def to_kebab(name: str) -> str:
    return to_snake(name).replace("_", "-")


def pluralize(word: str) -> str:
    lower = word.lower()
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if lower.endswith("y") and lower[-2:-1] not in set("aeiou"):
        return word[:-1] + "ies"
    return word + "s"


def words(name: str) -> list[str]:
    return to_snake(name).split("_")


def sentence(name: str) -> str:
    """`UpdateCompleted` → `update completed` (used in the reference's 403 message)."""
    return " ".join(words(name)).lower()


def title(name: str) -> str:
    """`generate_report` / `GenerateReport` → `Generate Report`."""
    return " ".join(w.capitalize() for w in words(name))
