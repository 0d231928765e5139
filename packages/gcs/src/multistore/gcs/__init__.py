"""Google Cloud Storage behind the multistore S3 gateway (``backend_type = "gcs"`` or ``"gs"``).

The backend speaks the GCS JSON API through the runtime's pooled HTTP transport, with OAuth2
access tokens minted from a service-account key, or anonymously for public buckets.
"""

from multistore.gcs.backend import GcsBackend

__all__ = ["GcsBackend"]
