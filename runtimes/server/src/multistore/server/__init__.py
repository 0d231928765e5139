"""The multistore aiohttp server runtime."""
