"""Etlify syncs run by RQ workers over Redis."""
