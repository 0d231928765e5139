"""Test-only Router extension proving entry-point discovery; never published."""
