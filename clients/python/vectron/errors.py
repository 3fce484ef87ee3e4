"""Exceptions raised by the Vectron client.

Every error the server answers becomes a :class:`VectronError` (or one of
its subclasses, chosen by the HTTP status) carrying the status and the
server's own message (``status.error`` of the error envelope, e.g.
``Not found: Collection `x` doesn't exist!``). Failures to reach the server
become :class:`ConnectionError`.
"""

import builtins

__all__ = ["VectronError", "BadRequest", "Unauthorized", "Forbidden",
           "NotFound", "Conflict", "RateLimited", "Unavailable",
           "ConnectionError", "error_for_status"]


class VectronError(Exception):
    """Base class of every error raised by the client.

    Attributes: ``message`` (the server's message, or a description of a
    client-side failure), ``status`` (the HTTP status, or ``None`` when no
    response was received), ``method`` and ``path`` (the request), ``note``
    (context added by the client, e.g. which upsert batch failed, or
    ``None``). ``str(error)`` is the message followed by that context.
    """

    def __init__(self, message, status=None, method=None, path=None,
                 note=None):
        """Creates the error; see the class documentation for the fields."""
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.note = note

    def __str__(self):
        """The message, then the status, the request and any note."""
        ctx = []
        if self.status is not None:
            ctx.append(f"HTTP {self.status}")
        if self.method:
            ctx.append(f"{self.method} {self.path}")
        if self.note:
            ctx.append(self.note)
        return f"{self.message} ({'; '.join(ctx)})" if ctx else self.message

    def __reduce__(self):
        """Pickles with every field (the default keeps only the message)."""
        return (self.__class__, (self.message, self.status, self.method,
                                 self.path, self.note))


class BadRequest(VectronError):
    """HTTP 400 or 413: the server refused the request as it was written
    (a decoding error such as ``points[0].vector: expected dimension 4, got
    3``, a limit, an unsupported feature, a body over ``max-body-size``)."""


class Unauthorized(VectronError):
    """HTTP 401: the server requires a credential and got none, or one it
    does not know (a wrong, revoked or expired API key, a malformed
    token). Pass ``api_key=`` to :class:`vectron.Client`."""


class Forbidden(VectronError):
    """HTTP 403: the credential is known but may not do this (a read-only
    key writing, a key limited to other collections, a non-admin key
    managing keys), or a JWT whose signature is wrong or whose ``exp`` has
    passed."""


class RateLimited(VectronError):
    """HTTP 429: the credential (or the client address) exceeded its rate
    limit; the server's ``Retry-After`` says in how many seconds to try
    again."""


class NotFound(VectronError):
    """HTTP 404: no such collection, point or route."""


class Conflict(VectronError):
    """HTTP 409: the collection already exists."""


class Unavailable(VectronError):
    """HTTP 503 or 504: the server cannot serve the request now (a shard
    not open, out of memory, shutting down) or a write or strong read was
    not confirmed within the server's ``request-timeout``; a 504 write may
    still be applied."""


class ConnectionError(VectronError, builtins.ConnectionError):
    """No usable HTTP response: the connection was refused, reset or timed
    out, or the response was not HTTP. ``status`` is ``None``; the
    underlying exception is ``__cause__``. Also a subclass of the built-in
    ``ConnectionError`` (and so of ``OSError``)."""

    def __new__(cls, message, *args, **kwargs):
        """Creates the error (OSError's constructor takes no keywords)."""
        return builtins.ConnectionError.__new__(cls, message)


_BY_STATUS = {400: BadRequest, 413: BadRequest, 401: Unauthorized,
              403: Forbidden, 404: NotFound, 409: Conflict, 429: RateLimited,
              503: Unavailable, 504: Unavailable}


def error_for_status(status, message, method=None, path=None, note=None):
    """The exception for an HTTP error status: :class:`BadRequest` (400,
    413), :class:`Unauthorized` (401), :class:`Forbidden` (403),
    :class:`NotFound` (404), :class:`Conflict` (409), :class:`RateLimited`
    (429), :class:`Unavailable` (503, 504), else :class:`VectronError`."""
    cls = _BY_STATUS.get(status, VectronError)
    return cls(message, status, method, path, note)
