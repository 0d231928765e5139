"""A lean HTTP/1.1 client for backend requests: keep-alive pools, streaming both ways.

Implements core's :class:`~multistore.core.http.HttpTransport`; see ``client.HttpClient``.
"""

from multistore.http_client.client import HttpClient
from multistore.http_client.response import ClientResponse
from multistore.http_client.settings import ClientSettings

__all__ = ["ClientResponse", "ClientSettings", "HttpClient"]
