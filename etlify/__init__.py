"""Etlify: keep Peewee records mirrored in a CRM, idempotently."""
