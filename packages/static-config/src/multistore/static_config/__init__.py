"""Static TOML/JSON configuration for multistore: buckets, credentials, roles, server settings.

``StaticProvider.from_file("config.toml")`` is a bucket and credential registry for the
gateway; ``CachedProvider`` puts a TTL cache in front of any credential registry.
"""

from multistore.static_config.cached import CachedProvider
from multistore.static_config.errors import ConfigError
from multistore.static_config.loading import from_json, from_toml, load_config
from multistore.static_config.model import StaticConfig
from multistore.static_config.provider import BUCKET_CREATION_DATE, StaticProvider
from multistore.static_config.reloading import ReloadableProvider
from multistore.static_config.schema import BACKEND_TYPES, parse_config
from multistore.static_config.server_settings import ServerSettings

__all__ = [
    "BACKEND_TYPES",
    "BUCKET_CREATION_DATE",
    "CachedProvider",
    "ConfigError",
    "ReloadableProvider",
    "ServerSettings",
    "StaticConfig",
    "StaticProvider",
    "from_json",
    "from_toml",
    "load_config",
    "parse_config",
]
