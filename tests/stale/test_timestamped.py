"""``Timestamped`` stamps ``updated_at`` (and an empty ``created_at``) on save."""

from __future__ import annotations

import datetime as dt

import pytest
from peewee import CharField, DateTimeField, Model

import etlify
from etlify.timestamps import Timestamped

from .support import T, etlify_model, stale_ids, synced


@pytest.fixture
def clock():
    """Etlify's clock, set by the test."""
    now = [T]
    etlify.configure(now=lambda: now[0])
    return now


@pytest.fixture
def Article(app):
    class Article(Timestamped, etlify.EtlifyMixin, Model):
        title = CharField(default="")
        created_at = DateTimeField(null=True)
        updated_at = DateTimeField(null=True)

        class Meta:
            database = app.db

    app.db.drop_tables([Article])
    app.db.create_tables([Article])
    return Article


def test_save_stamps_both_timestamps_of_a_new_record(Article, clock):
    article = Article.create(title="a")
    stored = Article.get_by_id(article.id)
    assert (stored.created_at, stored.updated_at) == (T, T)


def test_save_moves_updated_at_and_keeps_created_at(Article, clock):
    article = Article.create(title="a")
    clock[0] = T + dt.timedelta(minutes=5)
    article.title = "b"
    article.save()
    stored = Article.get_by_id(article.id)
    assert (stored.created_at, stored.updated_at) == (T, clock[0])


def test_save_of_chosen_fields_writes_updated_at_too(Article, clock):
    article = Article.create(title="a")
    clock[0] = T + dt.timedelta(minutes=5)
    article.title = "b"
    article.save(only=[Article.title])
    assert Article.get_by_id(article.id).updated_at == clock[0]


def test_a_saved_change_makes_the_record_stale(Article, clock):
    etlify_model(Article)
    article = Article.create(title="a")
    synced(article, T + dt.timedelta(minutes=1))
    assert stale_ids(Article) == []
    clock[0] = T + dt.timedelta(minutes=2)
    article.title = "b"
    article.save()
    assert stale_ids(Article) == [article.id]
