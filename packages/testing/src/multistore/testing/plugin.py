"""pytest plugin: registers the shared fixtures."""
