"""Static TOML/JSON configuration for multistore."""
