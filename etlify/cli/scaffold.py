"""``etlify init`` and ``etlify serializer``: files to start from."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from peewee import ForeignKeyField, Model

from .. import declarations
from .app import UsageError, load_app

__all__ = ["add_commands", "STARTER", "serializer_source"]

STARTER = '''\
"""Etlify configuration: the database, the CRM, and the models mirrored in it.

    etlify --app {module} create-tables    # the sync-state tables
    etlify --app {module} sync --inline    # send the stale records
    etlify --app {module} status
"""

import os

from peewee import CharField, DateTimeField, Model, SqliteDatabase

import etlify
from etlify.adapters import HubspotV3Adapter, NullAdapter
from etlify.timestamps import Timestamped

db = SqliteDatabase("{module}.db", pragmas={{"journal_mode": "wal"}}, timeout=30)
etlify.configure(database=db)

# Without a token HubSpot is registered disabled: every sync is a no-op.
# HUBSPOT_BASE_URL points it elsewhere, e.g. at `python -m etlify.testing.hubspot`.
token = os.environ.get("HUBSPOT_PRIVATE_APP_TOKEN")
base_url = os.environ.get("HUBSPOT_BASE_URL", "https://api.hubapi.com")
etlify.register(
    "hubspot",
    adapter=HubspotV3Adapter(access_token=token, base_url=base_url) if token else NullAdapter(),
    enabled=bool(token),
)


# Timestamped: every save() moves updated_at, which is how the next sync finds the change.
class Contact(Timestamped, etlify.EtlifyMixin, Model):
    email = CharField(unique=True)
    first_name = CharField(default="")
    last_name = CharField(default="")
    updated_at = DateTimeField(default=etlify.config.now)

    class Meta:
        database = db


class ContactSerializer(etlify.BaseSerializer):
    def as_crm_payload(self):
        return {{
            "email": self.record.email,
            "firstname": self.record.first_name,
            "lastname": self.record.last_name,
        }}


Contact.etlified_with(
    "hubspot",
    serializer=ContactSerializer,
    crm_object_type="contacts",
    id_property="email",
)

# Your own tables are yours to manage; the example's is created here for a first try.
db.create_tables([Contact])
'''


def add_commands(commands: Any) -> None:
    """Add ``init`` and ``serializer`` to the command parsers."""
    init = commands.add_parser(
        "init",
        help="write a starter configuration module",
        description="Write a starter configuration module: a SQLite database, HubSpot "
        "registered from $HUBSPOT_PRIVATE_APP_TOKEN, and one example model.",
    )
    init.add_argument(
        "path", nargs="?", default="etlify_app.py", help="where to write it (default: %(default)s)"
    )
    init.set_defaults(run=run_init)

    serializer = commands.add_parser(
        "serializer",
        help="write a serializer skeleton for a model",
        description="Write a serializer skeleton from the model's fields.",
    )
    serializer.add_argument("model", metavar="MODEL", help="the model's class name")
    serializer.add_argument(
        "--output", metavar="PATH", help="where to write it (default: <model>_serializer.py)"
    )
    serializer.set_defaults(run=run_serializer)


def run_init(args: argparse.Namespace) -> int:
    """Write the starter module; refuses to overwrite a file."""
    path = Path(args.path)
    if path.suffix != ".py" or not path.stem.isidentifier():
        raise UsageError(f"{args.path} is not the path of a Python module (e.g. etlify_app.py)")
    _write_new(path, STARTER.format(module=path.stem))
    print(f"wrote {path}; next: etlify --app {path.stem} create-tables")
    return 0


def run_serializer(args: argparse.Namespace) -> int:
    """Write a serializer skeleton of the named model; refuses to overwrite a file."""
    model = _find_model(load_app(args, needs_models=False), args.model)
    path = Path(args.output or f"{_snake(model.__name__)}_serializer.py")
    _write_new(path, serializer_source(model))
    print(f"wrote {path}")
    return 0


TIMESTAMPS = ("created_at", "updated_at")


def serializer_source(model: type) -> str:
    """The source of a serializer class sending each field of ``model``.

    The primary key and the ``created_at``/``updated_at`` timestamps are left
    out: a timestamp in the payload changes its digest on every save, which
    would cost a CRM call for nothing.
    """
    lines = []
    for field in model._meta.sorted_fields:
        if field.primary_key or field.name in TIMESTAMPS:
            continue
        attribute = field.object_id_name if isinstance(field, ForeignKeyField) else field.name
        lines.append(f'            "{field.name}": record.{attribute},')
    name = model.__name__
    return (
        f'"""The CRM payload of {name}."""\n\n'
        "from etlify import BaseSerializer\n\n\n"
        f"class {name}Serializer(BaseSerializer):\n"
        f'    """Turns a {name} into the properties the CRM stores."""\n\n'
        "    def as_crm_payload(self):\n"
        "        record = self.record\n"
        "        # Rename the keys to the CRM's property names; drop what it does not need.\n"
        "        return {\n" + "\n".join(lines) + "\n        }\n"
    )


def _find_model(module: Any, name: str) -> type:
    """An etlified model registered as ``name``, else a model class of that name in ``module``."""
    if name in {declarations.resource_type(m) for m in declarations.etlified_models()}:
        return declarations.model_for(name)
    found = getattr(module, name, None)
    if isinstance(found, type) and issubclass(found, Model):
        return found
    raise UsageError(f"no model named {name!r} in {module.__name__} or among the etlified models")


def _write_new(path: Path, text: str) -> None:
    try:
        with path.open("x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise UsageError(f"{path} already exists; not overwriting it") from None
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
