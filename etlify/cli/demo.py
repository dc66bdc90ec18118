"""``etlify demo``: the whole flow on sample data, against a local HubSpot emulator.

It builds a SQLite database of companies, users and their investments,
starts :class:`~etlify.testing.hubspot.FakeHubSpot`, and runs the real code:
a first backfill through batch upserts, a few edits, the stale finder, a
re-sync that sends only what changed, and a delete. With ``--real`` and
``$HUBSPOT_PRIVATE_APP_TOKEN`` it targets a real HubSpot portal instead (on a
smaller data set, removed from the portal at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from peewee import (
    CharField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    Model,
    SqliteDatabase,
    chunked,
    prefetch,
)

import etlify
from etlify import Associate
from etlify.adapters.wire import encode_properties

from ..adapters.hubspot import HubspotV3Adapter
from ..config import config
from ..stale import Finder
from ..state import rows as sync_rows
from ..sync_stale import BatchSync
from ..testing.hubspot import FakeHubSpot
from ..timestamps import Timestamped
from .app import UsageError, positive_int

__all__ = ["add_commands", "run_demo", "define_models"]

SEED = 7
FIRST = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Radia", "Tim"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson"]
BRANDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Wonka", "Tyrell"]
KINDS = ["Labs", "Partners", "Capital", "Systems", "Foods", "Energy"]


def add_commands(commands: Any) -> None:
    """Add ``demo``."""
    demo = commands.add_parser(
        "demo",
        help="run the whole flow on sample data against a local HubSpot emulator",
        description="Create sample companies, users and investments in SQLite, start a "
        "local HubSpot emulator, and run Etlify end to end: backfill, edits, stale "
        "finder, re-sync, delete. Exits with status 1 if the CRM ends different from "
        "the database.",
    )
    demo.add_argument(
        "--database", metavar="PATH", help="the SQLite file to create (default: a temp dir)"
    )
    demo.add_argument(
        "--users",
        type=positive_int,
        metavar="N",
        help="sample users, ten per company (default: 3000; 100 with --real)",
    )
    demo.add_argument(
        "--real",
        action="store_true",
        help="target the HubSpot portal of $HUBSPOT_PRIVATE_APP_TOKEN instead of the emulator",
    )
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; 0 when the CRM ends mirroring the database, else 1."""
    token = os.environ.get("HUBSPOT_PRIVATE_APP_TOKEN")
    if args.real and not token:
        raise UsageError("--real needs $HUBSPOT_PRIVATE_APP_TOKEN (a private app's token)")
    users = args.users or (100 if args.real else 3000)
    with contextlib.ExitStack() as stack:
        if args.database:
            path = Path(args.database)
            if path.exists():
                raise UsageError(f"{path} already exists; the demo creates a new database")
        else:
            path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "demo.db"
        crm = stack.enter_context(_real_hubspot(token) if args.real else _emulator())
        db = SqliteDatabase(str(path), pragmas={"journal_mode": "wal"}, timeout=30)
        stack.callback(db.close)
        return Demo(db, crm, users).run()


@contextlib.contextmanager
def _emulator() -> Iterator[SimpleNamespace]:
    # Unmetered, as the client below: the backfill sends more than the default
    # 190 requests per 10 s, and the demo shows Etlify's requests, not HubSpot's waits.
    with FakeHubSpot(rate_limit=None) as hs:
        yield SimpleNamespace(
            label=f"FakeHubSpot, a local HubSpot API emulator at {hs.url}",
            adapter=HubspotV3Adapter(access_token=hs.token, base_url=hs.url),
            rate_limit=None,
            email_tag="",
            requests=lambda: len(hs.requests),
            objects=hs.objects,
            associations=hs.associations,
        )


@contextlib.contextmanager
def _real_hubspot(token: str) -> Iterator[SimpleNamespace]:
    yield SimpleNamespace(
        label="the HubSpot portal of $HUBSPOT_PRIVATE_APP_TOKEN",
        adapter=HubspotV3Adapter(access_token=token),
        # A private app's burst limit; 429s are waited out anyway.
        rate_limit={"max_requests": 100, "period": 10.0},
        # Sample emails no contact of the portal can have: the demo archives them at the end.
        email_tag=f".etlify-demo-{secrets.token_hex(4)}",
        requests=None,
        objects=None,
        associations=None,
    )


def define_models(db: Any) -> SimpleNamespace:
    """The demo's models on ``db``: companies, their users, the users' investments."""

    class Base(Timestamped, Model):
        updated_at = DateTimeField(default=config.now)

        class Meta:
            database = db

    class Company(etlify.EtlifyMixin, Base):
        name = CharField()
        domain = CharField()

    class User(etlify.EtlifyMixin, Base):
        email = CharField(unique=True)
        first_name = CharField()
        last_name = CharField()
        company = ForeignKeyField(Company, backref="users")
        last_login_at = DateTimeField(null=True)

    class Investment(Base):
        user = ForeignKeyField(User, backref="investments")
        amount = DecimalField(decimal_places=2)

    class CompanySerializer(etlify.BaseSerializer):
        def as_crm_payload(self) -> dict[str, Any]:
            return {"name": self.record.name, "domain": self.record.domain}

    class UserSerializer(etlify.BaseSerializer):
        def as_crm_payload(self) -> dict[str, Any]:
            user = self.record
            return {
                "email": user.email,
                "firstname": user.first_name,
                "lastname": user.last_name,
                "company": user.company.name,
                # A built-in number property, so that the demo runs on any portal.
                "annualrevenue": sum((i.amount for i in user.investments), Decimal(0)),
            }

    # Companies have no unique property in HubSpot to upsert on: each is created
    # on its own, then updated by id. Users upsert in batches, matched on email,
    # and each contact is linked to its company.
    Company.etlified_with("hubspot", serializer=CompanySerializer, crm_object_type="companies")
    User.etlified_with(
        "hubspot",
        serializer=UserSerializer,
        crm_object_type="contacts",
        id_property="email",
        dependencies=["company", "investments"],
        prefetch=["company", "investments"],
        associations=[Associate("company", to="companies")],
    )
    db.create_tables([Company, User, Investment])
    return SimpleNamespace(Company=Company, User=User, Investment=Investment)


class Demo:
    """The demo's steps, printing what each one did."""

    def __init__(self, db: Any, crm: SimpleNamespace, users: int) -> None:
        self.db, self.crm, self.users = db, crm, users
        self.rng = random.Random(SEED)
        self.progress = True if sys.stderr.isatty() else None
        self.found_right = False

    def run(self) -> int:
        etlify.configure(database=self.db)
        etlify.register("hubspot", adapter=self.crm.adapter, rate_limit=self.crm.rate_limit)
        etlify.create_tables()
        self.app = define_models(self.db)
        self.seed()
        self.backfill()
        edited = self.edit()
        self.find(edited)
        self.resync()
        self.delete()
        return self.check()

    def seed(self) -> None:
        """Insert the sample companies, users and investments."""
        Company, User, Investment = self.app.Company, self.app.User, self.app.Investment
        rng, companies = self.rng, max(1, self.users // 10)
        companies_rows = [
            {"name": f"{rng.choice(BRANDS)} {rng.choice(KINDS)} {i}",
             "domain": f"company{i}.example.com"}
            for i in range(1, companies + 1)
        ]  # fmt: skip
        users_rows = [
            {"email": f"user{i}{self.crm.email_tag}@example.com", "first_name": rng.choice(FIRST),
             "last_name": rng.choice(LAST), "company": rng.randint(1, companies)}
            for i in range(1, self.users + 1)
        ]  # fmt: skip
        amounts = [
            {"user": user_id, "amount": Decimal(rng.randrange(500, 50_000, 50))}
            for user_id in range(1, self.users + 1)
            for _ in range(rng.randint(1, 4))
        ]
        with self.db.atomic():
            for model, rows in (
                (Company, companies_rows),
                (User, users_rows),
                (Investment, amounts),
            ):
                for chunk in chunked(rows, 200):  # under SQLite's limit of bound parameters
                    model.insert_many(chunk).execute()
        print(
            f"Etlify demo: {companies:,} companies, {self.users:,} users, "
            f"{len(amounts):,} investments\n"
            f"  database  {self.db.database}\n"
            f"  CRM       {self.crm.label}\n"
        )

    def backfill(self) -> None:
        """Step 1: every record is new, so every record is sent."""
        stats = self.sync()
        say(
            "1. Backfill",
            f"{stats['synced']:,} records created {self.spent()}",
            "(users: batch upserts of 100, matched on email; companies: one by one;",
            " then each contact's link to its company, 100 links a request)",
        )

    def edit(self) -> dict[str, set]:
        """Step 2: change some users and related records; return what must be stale."""
        Company, User, Investment = self.app.Company, self.app.User, self.app.Investment
        user_ids = [pk for (pk,) in User.select(User.id).tuples()]
        renamed, touched = self.sample(user_ids, 20), self.sample(user_ids, 10)
        moved = self.sample(user_ids, 5)
        companies = [pk for (pk,) in Company.select(Company.id).tuples()]
        for user in User.select().where(User.id.in_(renamed)):
            user.last_name += "-Smith"
            user.save()
        for user in User.select().where(User.id.in_(touched)):
            user.last_login_at = config.now()
            user.save()
        for user in User.select().where(User.id.in_(moved)):
            user.company = self.rng.choice([pk for pk in companies if pk != user.company_id])
            user.save()
        company = Company.get_by_id(1)
        company.name += " Group"
        company.save()
        investments = self.sample([pk for (pk,) in Investment.select(Investment.id).tuples()], 10)
        changed, deleted = investments[:5], investments[5:]
        for investment in Investment.select().where(Investment.id.in_(changed)):
            investment.amount += 100
            investment.save()
        owners = {
            owner for (owner,) in Investment.select(Investment.user).where(
                Investment.id.in_(investments)
            ).tuples()
        }  # fmt: skip
        Investment.delete().where(Investment.id.in_(deleted)).execute()
        company_users = {pk for (pk,) in company.users.select(User.id).tuples()}
        say(
            "2. Edits",
            f"{len(renamed)} users renamed; {len(touched)} users logged in (no CRM field changed)",
            f"{len(moved)} users moved to another company",
            f"1 company renamed ({len(company_users)} users show its name)",
            f"{len(changed)} investment amounts changed, {len(deleted)} investments deleted",
        )
        return {
            "Company": {str(company.id)},
            "User": {
                str(pk) for pk in set(renamed) | set(touched) | set(moved) | company_users | owners
            },
        }

    def find(self, edited: dict[str, set]) -> None:
        """Step 3: the stale finder (SQL only) must pick exactly the edited records."""
        found = {
            model.__name__: {str(pk) for (pk,) in queries["hubspot"].tuples()}
            for model, queries in Finder.call().items()
        }
        count = sum(len(ids) for ids in found.values())
        expected = sum(len(ids) for ids in edited.values())
        per_model = ", ".join(f"{len(ids)} {name}" for name, ids in sorted(found.items()))
        self.found_right = found == edited
        verdict = "exactly the edited ones" if self.found_right else f"expected {expected}"
        say("3. Stale finder", f"{count} stale records ({per_model}): {verdict}")

    def resync(self) -> None:
        """Step 4: send only the stale records; unchanged payloads cost nothing."""
        stats = self.sync()
        say(
            "4. Re-sync",
            f"{stats['synced']} records updated {self.spent()}",
            f"{stats['not_modified']} skipped: payload digest unchanged, no call",
        )

    def delete(self) -> None:
        """Step 5: a user leaves: delete them from the CRM, then from the database."""
        user = self.app.User.select().order_by(self.app.User.id.desc()).get()
        before = self.requests()
        status = user.crm_delete("hubspot")
        calls = f" ({self.requests() - before} HTTP request)" if before is not None else ""
        user.delete_instance(recursive=True)
        say("5. Delete", f"{user.email} {status} from the CRM{calls}, then from the database")

    def check(self) -> int:
        """Compare the CRM with the database; 0 when they agree."""
        errors = sync_rows.count_failing()
        if self.crm.objects is None:
            removed = self.clean_up()
            print(
                f"\n{errors} sync errors; the {removed} demo objects were removed from the portal."
            )
            return 0 if errors == 0 and self.found_right else 1
        App = self.app
        users = prefetch(App.User.select(), App.Company.select(), App.Investment.select())
        differing = self.differing(App.Company.select(), "companies")
        differing += self.differing(users, "contacts")
        differing += self.unlinked(App.User.select())
        ok = differing == 0 and errors == 0 and self.found_right
        print()
        say(
            "Result",
            f"CRM: {len(self.crm.objects('companies')):,} companies, "
            f"{len(self.crm.objects('contacts')):,} contacts; database: "
            f"{App.Company.select().count():,} companies, {App.User.select().count():,} users",
            "every CRM object matches its record" if ok else f"{differing} records differ",
        )
        say(
            "Next",
            "examples/quickstart.py is the smallest complete app; `etlify init` writes a "
            "starter module,",
            "then `etlify --app etlify_app create-tables` and `etlify --app etlify_app sync "
            "--inline` run your own.",
        )
        return 0 if ok else 1

    def differing(self, records: Any, object_type: str) -> int:
        """How many records have no CRM object with their payload, plus extra CRM objects."""
        objects = {obj["id"]: obj["properties"] for obj in self.crm.objects(object_type)}
        records = list(records)
        crm_ids = sync_rows.crm_ids(object_type)
        differing = max(0, len(objects) - len(records))
        for record in records:
            properties = objects.get(crm_ids.get(str(record.id)), {})
            sent = encode_properties(record.build_crm_payload("hubspot"))
            differing += any(properties.get(key) != value for key, value in sent.items())
        return differing

    def unlinked(self, users: Any) -> int:
        """How many contacts are not linked to exactly their user's company."""
        contacts, companies = sync_rows.crm_ids("contacts"), sync_rows.crm_ids("companies")
        return sum(
            set(self.crm.associations("contacts", contacts.get(str(user.id)), "companies"))
            != {companies.get(str(user.company_id))}
            for user in users
        )

    def clean_up(self) -> int:
        """Archive the demo's objects in a real portal; how many."""
        removed = 0
        for object_type in ("contacts", "companies"):
            crm_ids = list(sync_rows.crm_ids(object_type).values())
            self.crm.adapter.batch_delete(object_type, crm_ids)
            removed += len(crm_ids)
        return removed

    # -- helpers ---------------------------------------------------------------

    def sync(self) -> dict[str, Any]:
        self.started, self.before = time.perf_counter(), self.requests()
        return BatchSync.call(async_=False, progress=self.progress)

    def spent(self) -> str:
        seconds = time.perf_counter() - self.started
        took = f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"
        if self.before is None:
            return f"in {took}"
        return f"with {self.requests() - self.before:,} HTTP requests in {took}"

    def requests(self) -> int | None:
        return self.crm.requests() if self.crm.requests else None

    def sample(self, population: list, count: int) -> list:
        return self.rng.sample(population, min(count, len(population)))


def say(title: str, *lines: str) -> None:
    """Print a step: its title, then its lines aligned beside it."""
    for index, line in enumerate(lines):
        print(f"{title if index == 0 else '':<17}{line}")
