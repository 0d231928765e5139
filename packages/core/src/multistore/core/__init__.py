"""multistore core: the runtime-agnostic S3 gateway."""
