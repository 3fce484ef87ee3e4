"""The binary bulk-upsert body and its CRC32C, in pure Python.

The body is specified in docs/formats/bulk-upsert.md (version 1): a 32-byte
header (magic ``VXBULK\\0\\0``, version, flags, dim, count, reserved), the
ids (u64 each, or 16 UUID bytes each), the vectors (little-endian float32,
point after point), optionally the payload lengths (u32) and the payloads
(UTF-8 JSON objects), and last the CRC32C (Castagnoli) of every preceding
byte, little-endian. The server selects it by the request's content type,
:data:`CONTENT_TYPE`.

:func:`crc32c` reduces the whole message as one polynomial with Python's
big integers (each step folds the upper half of the message onto the lower
half with a carry-less multiplication by ``x^k mod P``), so the per-byte
work happens inside CPython's integer routines; it runs at roughly
100 MB/s, an order of magnitude faster than a table-driven loop in Python.
"""

import struct
import sys
import uuid
from array import array

__all__ = ["CONTENT_TYPE", "MAGIC", "VERSION", "FLAG_UUID_IDS",
           "FLAG_PAYLOADS", "crc32c", "encode_bulk_upsert"]

#: Content type that selects the binary body on ``PUT .../points``.
CONTENT_TYPE = "application/vnd.vectron.bulk-upsert"
#: The first 8 bytes of every body.
MAGIC = b"VXBULK\x00\x00"
#: The format version this module writes.
VERSION = 1
#: Flag bit 0: the ids are UUIDs (16 bytes each) rather than u64.
FLAG_UUID_IDS = 1
#: Flag bit 1: the payload lengths and payloads follow the vectors.
FLAG_PAYLOADS = 2

_HEADER = struct.Struct("<8sIIIIQ")
_BIG_ENDIAN = sys.byteorder == "big"

# ---------------------------------------------------------------------------
# CRC32C (Castagnoli): reflected, polynomial 0x1EDC6F41, init and final xor
# 0xFFFFFFFF; crc32c(b"123456789") == 0xE3069283.
#
# In polynomial terms the register after the message M of n bits is
#   R = (M(x) * x^32 + 0xFFFFFFFF * x^n) mod P(x)
# with the message read as a polynomial whose highest coefficient is the
# first bit on the wire (bit 0 of byte 0, since the CRC is reflected), and
# the CRC is reflect32(R) ^ 0xFFFFFFFF.  Reversing the bits of every byte
# (bytes.translate) and reading the result big-endian gives exactly that
# polynomial as a Python int.

_P = 0x11EDC6F41
_REV8 = bytes(int(format(i, "08b")[::-1], 2) for i in range(256))


def _mulmod(a, b):
    """a * b mod P for polynomials below degree 32 (carry-less)."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a >> 32:
            a ^= _P
    return r


# _XPOW[i] = x^(2^i) mod P
_XPOW = [2]
for _ in range(80):
    _XPOW.append(_mulmod(_XPOW[-1], _XPOW[-1]))
# The bit positions set in each constant: the shifts of a carry-less
# multiplication by it.
_XPOW_BITS = [[j for j in range(32) if c >> j & 1] for c in _XPOW]


def _reflect32(v):
    return int(format(v, "032b")[::-1], 2)


def crc32c(data, value=0):
    """Returns the CRC32C (Castagnoli) of ``data`` as an unsigned int.

    ``data`` is any bytes-like object. ``value`` continues a previous
    checksum: ``crc32c(b, crc32c(a)) == crc32c(a + b)``. Pure Python, no
    table loop: the message is reduced as one polynomial with big-integer
    shifts and xors.
    """
    data = bytes(data)
    n = len(data) * 8
    a = int.from_bytes(data.translate(_REV8), "big")
    a = (a << 32) ^ (_reflect32(value ^ 0xFFFFFFFF) << n)
    bits = a.bit_length()
    while bits > 64:
        # Fold at k, the largest power of two below bits: a = H*x^k + L
        # becomes H*(x^k mod P) + L, the same value mod P, about k bits.
        i = (bits - 1).bit_length() - 1
        k = 1 << i
        h = a >> k
        r = a & ((1 << k) - 1)
        for j in _XPOW_BITS[i]:
            r ^= h << j
        a = r
        bits = a.bit_length()
    while bits > 32:
        a ^= _P << (bits - 33)
        bits = a.bit_length()
    return _reflect32(a) ^ 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Encoding


def _f32_bytes(v, index):
    """Little-endian float32 bytes of one vector and its length."""
    if hasattr(v, "astype") and hasattr(v, "tobytes"):
        ndim = getattr(v, "ndim", 1)
        if ndim != 1:
            raise ValueError(f"points[{index}].vector: expected a "
                             f"1-dimensional array, got {ndim} dimensions")
        b = v.astype("<f4").tobytes()
        return b, len(b) // 4
    if hasattr(v, "tolist") and not isinstance(v, array):
        v = v.tolist()
    if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__iter__"):
        raise TypeError(f"points[{index}].vector: expected a sequence of "
                        f"numbers, not {type(v).__name__}")
    try:
        a = array("f", v)
    except TypeError as e:
        raise TypeError(f"points[{index}].vector: {e}") from None
    if _BIG_ENDIAN:
        a.byteswap()
    return a.tobytes(), len(a)


def _vectors_bytes(vectors, count):
    """(dim, bytes) of the vectors: a 2-D array, or a sequence of vectors."""
    if (hasattr(vectors, "astype") and hasattr(vectors, "tobytes")
            and getattr(vectors, "ndim", None) == 2):
        rows, dim = vectors.shape
        if rows != count:
            raise ValueError(f"expected {count} vectors (one per id), got "
                             f"{rows}")
        return dim, vectors.astype("<f4").tobytes()
    parts = []
    dim = None
    for i, v in enumerate(vectors):
        b, n = _f32_bytes(v, i)
        if dim is None:
            dim = n
        elif n != dim:
            raise ValueError(f"points[{i}].vector: expected dimension {dim}, "
                             f"got {n} (the vectors of one request share "
                             f"one dimension)")
        parts.append(b)
    if len(parts) != count:
        raise ValueError(f"expected {count} vectors (one per id), got "
                         f"{len(parts)}")
    return (dim or 0), b"".join(parts)


def encode_bulk_upsert(ids, vectors, payloads=None, dumps=None):
    """Encodes points as one binary bulk-upsert body (format version 1).

    ``ids``: a sequence of point ids, either all integers (0..2^64-1) or
    all UUIDs (``uuid.UUID`` or their text); one body cannot mix them.
    ``vectors``: one vector per id, each a sequence of numbers or a
    numpy-like 1-D array, or a single numpy-like 2-D array (rows are
    points); written as little-endian float32. ``payloads``: ``None`` or
    one dict (or ``None`` for no payload) per id, written as compact JSON;
    ``dumps`` overrides the JSON encoder (a function returning ``str``).

    Returns the body as ``bytes``, ending with its CRC32C. Raises
    ``ValueError`` for mismatched lengths, mixed id kinds, ids out of range
    or vectors of different dimensions, ``TypeError`` for values of the
    wrong type.
    """
    ids = list(ids)
    count = len(ids)
    flags = 0
    if count and all(isinstance(i, (str, uuid.UUID)) for i in ids):
        flags |= FLAG_UUID_IDS
        try:
            id_bytes = b"".join(
                (i if isinstance(i, uuid.UUID) else uuid.UUID(i)).bytes
                for i in ids)
        except ValueError as e:
            raise ValueError(f"point id is not a UUID: {e}") from None
    else:
        if any(isinstance(i, (str, uuid.UUID)) for i in ids):
            raise ValueError("one bulk body holds either integer ids or "
                             "UUIDs, not both")
        if any(isinstance(i, bool) for i in ids):
            raise TypeError("point id must be an integer or a UUID, not bool")
        try:
            id_bytes = struct.pack(f"<{count}Q", *ids)
        except struct.error as e:
            raise ValueError(f"point ids must be integers from 0 to 2^64-1 "
                             f"or UUIDs ({e})") from None
    dim, vec_bytes = _vectors_bytes(vectors, count)
    parts = [None, id_bytes, vec_bytes]
    if payloads is not None:
        payloads = list(payloads)
        if len(payloads) != count:
            raise ValueError(f"expected {count} payloads (one per id), got "
                             f"{len(payloads)}")
        if any(p is not None for p in payloads):
            if dumps is None:
                from .client import _dumps as dumps
            flags |= FLAG_PAYLOADS
            blobs = [b"" if p is None else dumps(p).encode("utf-8")
                     for p in payloads]
            parts.append(struct.pack(f"<{count}I", *map(len, blobs)))
            parts.extend(blobs)
    parts[0] = _HEADER.pack(MAGIC, VERSION, flags, dim, count, 0)
    body = b"".join(parts)
    return body + struct.pack("<I", crc32c(body))
