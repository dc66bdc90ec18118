"""Etlify syncs run by Celery workers over RabbitMQ."""
