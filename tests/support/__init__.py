"""Helpers for the reliability, fault and hostile-input tests."""
