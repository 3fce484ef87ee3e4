"""Values the client returns: :class:`Point` and :class:`UpdateResult`."""

from collections import namedtuple

__all__ = ["Point", "UpdateResult"]


class Point:
    """A point: ``id``, ``vector``, ``payload`` and, for search hits,
    ``score``.

    Returned by :meth:`Client.search`, :meth:`Client.retrieve` and
    :meth:`Client.scroll`; also accepted by :meth:`Client.upsert`.

    - ``id``: an ``int`` or a lower-case hyphenated UUID string.
    - ``vector``: a list of floats (the stored float32 values in their
      shortest decimal form), or ``None`` when not asked for
      (``with_vector=False``).
    - ``payload``: a dict, or ``None`` when not asked for.
    - ``score``: the search score (see docs/api.md#scores; for Euclid lower
      is closer), ``0`` for a query without a vector, ``None`` for records
      of retrieve and scroll.
    """

    __slots__ = ("id", "vector", "payload", "score")

    def __init__(self, id, vector=None, payload=None, score=None):
        """Creates a point from its fields (see the class documentation)."""
        self.id = id
        self.vector = vector
        self.payload = payload
        self.score = score

    @classmethod
    def from_json(cls, obj):
        """Builds a point from the server's JSON record or scored point."""
        return cls(obj.get("id"), obj.get("vector"), obj.get("payload"),
                   obj.get("score"))

    def to_dict(self):
        """The fields that are set, as a dict (``id`` always)."""
        out = {"id": self.id}
        for k in ("vector", "payload", "score"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        return out

    def __eq__(self, other):
        """Points are equal when all four fields are."""
        if not isinstance(other, Point):
            return NotImplemented
        return (self.id == other.id and self.score == other.score
                and self.payload == other.payload
                and _vec_eq(self.vector, other.vector))

    __hash__ = None

    def __repr__(self):
        """A short representation (long vectors are abbreviated)."""
        fields = [f"id={self.id!r}"]
        if self.score is not None:
            fields.append(f"score={self.score!r}")
        if self.payload is not None:
            fields.append(f"payload={self.payload!r}")
        if self.vector is not None:
            v = self.vector
            try:
                n = len(v)
                if n > 4:
                    head = ", ".join(repr(x) for x in list(v[:3]))
                    fields.append(f"vector=[{head}, ... ({n} floats)]")
                else:
                    fields.append(f"vector={list(v)!r}")
            except TypeError:
                fields.append(f"vector={v!r}")
        return f"Point({', '.join(fields)})"


def _vec_eq(a, b):
    if a is None or b is None:
        return a is None and b is None
    a = a.tolist() if hasattr(a, "tolist") else list(a)
    b = b.tolist() if hasattr(b, "tolist") else list(b)
    return a == b


class UpdateResult(namedtuple("UpdateResult", "operation_id status")):
    """The answer to a write: ``operation_id`` (the Raft log index the
    write reached; 0 with ``wait=False``) and ``status`` (``"completed"``
    with ``wait=True``: durable and visible to the next read;
    ``"acknowledged"`` with ``wait=False``: queued only)."""

    __slots__ = ()

    @classmethod
    def from_json(cls, obj):
        """Builds the result from the server's ``{"operation_id",
        "status"}``."""
        return cls(obj.get("operation_id"), obj.get("status"))
