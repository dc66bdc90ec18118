"""Etlify syncs run by Huey consumers over Redis."""
