"""The Azure Blob Storage backend of the multistore S3 gateway (``backend_type`` ``az``/``azure``).

``wire.py`` reaches the container (URLs, Shared Key/SAS/anonymous, error translation),
``backend.py`` serves reads, PutObject, DeleteObject and listings, ``uploads.py`` multipart
uploads on block blobs (``stale_uploads.py`` removes abandoned ones), ``copying.py``
server-side copies and batch deletes.
"""
