"""Maintenance definitions."""
