"""The one place that turns domain and storage exceptions into protocol errors."""

from __future__ import annotations

import logging

from actors import errors as d
from media import errors as m
from protocol import errors as p
from storage import errors as s
from storage.bridge import BridgeClosed

log = logging.getLogger(__name__)

_MAP: list[tuple[type[BaseException], type[p.GlintError]]] = [
    (d.Invalid, p.BadRequest),
    (d.NotAuthenticated, p.Unauthorized),
    (d.NotAllowed, p.Forbidden),
    (d.Missing, p.NotFound),
    (d.Taken, p.Conflict),
    (d.Unsupported, p.Unsupported),
    (s.Unavailable, p.Unavailable),
    (BridgeClosed, p.Unavailable),
    (s.Duplicate, p.Conflict),
]

_MEDIA: list[tuple[type[m.MediaError], type[p.GlintError]]] = [
    (m.Unsupported, p.Unsupported),
    (m.TooLarge, p.TooLarge),
    (m.Corrupt, p.BadRequest),
]


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        out += _leaves(e) if isinstance(e, BaseExceptionGroup) else [e]
    return out


def _known(exc: BaseException) -> bool:
    return isinstance(exc, (p.GlintError, d.Throttled, m.MediaError,
                            *(kind for kind, _ in _MAP)))


def to_protocol(exc: BaseException) -> p.GlintError:
    # trio wraps whatever a nursery raises in a group: a `Missing` from one of several
    # concurrent renders reached here so and was answered `internal`. A group of known
    # errors answers as its first; one holding anything else is a bug (logged below).
    if isinstance(exc, BaseExceptionGroup) and all(_known(e) for e in _leaves(exc)):
        exc = _leaves(exc)[0]
    if isinstance(exc, p.GlintError):
        return exc
    if isinstance(exc, d.Throttled):
        return p.RateLimited(exc.message, retry_after=round(exc.retry_after, 3))
    for media_kind, wire in _MEDIA:
        if isinstance(exc, media_kind):
            return wire(str(exc))
    for kind, wire in _MAP:
        if isinstance(exc, kind):
            if isinstance(exc, d.DomainError):
                return wire(exc.message)
            return wire("the service is temporarily unavailable"
                        if wire is p.Unavailable else "conflict")
    log.error("unexpected error in op", exc_info=exc)
    return p.Internal("internal error")
