"""Conditional requests: entity tags of versioned resources, If-Match and If-None-Match."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from inventory_http.errors import Problem

__all__ = ["etag", "if_match_version", "not_modified"]


def etag(version: int) -> str:
    """The strong entity tag of a version."""
    return f'"{version}"'


def if_match_version(req: falcon.Request, current: Callable[[], int]) -> int | None:
    """The version an ``If-Match`` header insists on (``None``: no condition).

    Strong comparison: weak tags never match. With several tags, the current version is read
    (``current``) and passed on if listed, so the use case still checks it atomically. A
    condition no version can meet is answered 412 at once."""
    tags = req.if_match
    if not tags or any(str(tag) == "*" and not hasattr(tag, "is_weak") for tag in tags):
        return None
    versions = {
        int(tag)
        for tag in tags
        if not getattr(tag, "is_weak", False) and tag.isascii() and tag.isdigit() and len(tag) < 19
    }
    if len(versions) == 1:
        return versions.pop()
    if versions:
        version = current()
        if version in versions:
            return version
    raise Problem(412, "version-mismatch", "If-Match names no current version")


def not_modified(req: falcon.Request, version: int) -> bool:
    """True when ``If-None-Match`` matches ``version`` (weak comparison, or ``*``)."""
    tags = req.if_none_match or []
    return any(str(tag) in {"*", str(version)} for tag in tags)
