"""Python client for the Vectron vector database.

Quick start::

    import vectron

    client = vectron.Client("http://127.0.0.1:6333")
    client.create_collection("docs", dim=4, distance="Cosine")
    client.upsert("docs", [(1, [0.1, 0.9, 0.2, 0.4], {"lang": "en"}),
                           (2, [0.8, 0.1, 0.1, 0.3], {"lang": "de"})])
    hits = client.search("docs", [0.1, 0.8, 0.3, 0.4], limit=3,
                         filter={"must": [{"key": "lang",
                                           "match": {"value": "en"}}]})
    print(hits[0].id, hits[0].score, hits[0].payload)

Standard library only. numpy arrays are accepted wherever vectors or ids
are, but numpy is not required. The guide is docs/python.md in the Vectron
repository; the REST API it speaks is docs/api.md.
"""

from .bulk import crc32c, encode_bulk_upsert
from .client import DEFAULT_URL, Client
from .errors import (BadRequest, Conflict, ConnectionError, Forbidden,
                     NotFound, RateLimited, Unauthorized, Unavailable,
                     VectronError)
from .models import Point, UpdateResult

__version__ = "0.1.0"

__all__ = ["Client", "DEFAULT_URL", "Point", "UpdateResult", "VectronError",
           "BadRequest", "Unauthorized", "Forbidden", "NotFound",
           "Conflict", "RateLimited", "Unavailable",
           "ConnectionError", "crc32c", "encode_bulk_upsert", "__version__"]
