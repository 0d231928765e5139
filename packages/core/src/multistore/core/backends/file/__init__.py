"""The ``file`` backend: a local directory served as a bucket.

``backend.py`` is the entry point; the other modules each hold one concern of it (key to
path mapping, atomic writes, listing, multipart staging, copies).
"""

from multistore.core.backends.file.backend import FileBackend

__all__ = ["FileBackend"]
