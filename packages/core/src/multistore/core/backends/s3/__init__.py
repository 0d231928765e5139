"""The ``s3`` backend: S3 and every store that speaks its REST API.

``backend.py`` holds reads, PutObject, DeleteObject and listing; ``writes.py`` the write
paths beyond them (multipart, copy, batch delete), which ``S3Backend`` inherits.
"""

from multistore.core.backends.s3.backend import S3Backend

__all__ = ["S3Backend"]
