"""Shared test fixtures for multistore."""
