"""The stale finder against an oracle: random graphs, random edits, on every database.

Hypothesis draws a graph (``_oracle_models``: foreign keys, a two-hop path,
has-many backrefs, a many-to-many through a table with no timestamp, one
through a timestamped model, and a generic relation), syncs everything to an
in-memory CRM, then plays rounds of random edits: insert, update (a new or
the same name), delete (``delete_instance(recursive=True)``: dependants
deleted or set to NULL without a stamp, as ``ON DELETE`` would), re-point a
foreign key (or the generic pair), link, unlink, and swap (a many-to-many
swap, from either side: remove one related row and add another, so that the
count of related rows stays the same). Every write goes through ``save()``
(``Timestamped``) or a many-to-many ``add``/``remove``: the changes the
finder promises to see. The clock moves one whole second per edit and stays
clear of each sync by more than any ``sync_margin`` (1 s on MariaDB).

After every round, for every record of every etlified model, the oracle
computes, independently of the finder:

- D, *changed*: the digest of the record's payload now (the engine's
  ``build_payload`` + ``digest_of``) differs from the stored ``last_digest``
  (or there is none);
- M, *moved*: the record, or a row it reaches along its dependencies, was
  stamped (``updated_at``, or ``created_at`` of a timestamped link) since the
  last sync;
- F, *touched*: the record's footprint, the set of rows it reaches along its
  dependencies with their stamps (and the links themselves), is not the one
  it had right after the last sync.

The property asserted, with S the finder's result:

    D ∪ M ⊆ S ⊆ F

- never miss a changed payload (D ⊆ S): this is the issue's "never miss one";
- a moved timestamp makes a record stale even when its payload did not
  change (M ⊆ S), as ``etlify/stale.py`` documents;
- nothing is reported for a record whose footprint did not change (S ⊆ F).

"Exactly the records whose payload changed" cannot be asked of a
timestamp-based finder: a record touched with the same payload (a save that
changes nothing, a deleted deal with the same name as a remaining one) may be
reported or not, since the finder sees stamps and counts, not payloads. That
slack, F \\ (D ∪ M), is the only one allowed. (D ⊆ F is checked too, as a
sanity check of the oracle itself.)

After every sync, nothing is stale and every stored digest is the payload's.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import engine

import etlify
from etlify import BatchSync, Finder
from etlify.config import digest_of
from etlify.declarations import sync_config
from etlify.serializers import build_payload
from etlify.state import CrmSynchronisation as Sync
from etlify.state import PendingSync
from etlify.testing import InMemoryAdapter

from ._oracle_models import ETLIFIED, KINDS, define_models

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)
EDIT_STEP = dt.timedelta(seconds=1)
#: Between the last edit and a sync, and a sync and the next edit: more than any margin.
SYNC_GAP = dt.timedelta(seconds=5)
#: How long Hypothesis may shrink a failure (see ``bounded_shrinking``).
SHRINK_SECONDS = 40

RELATIONS = ("tags", "segments")
#: What a re-point changes: the field, the target model, whether it may become NULL.
REPOINTED = {
    "Company": ("owner", "Person", True),
    "Contact": ("company", "Company", True),
    "Deal": ("contact", "Contact", False),
    "Comment": None,  # the generic pair
}


# -- the edits -----------------------------------------------------------------
# Indices pick among the rows that exist when the edit is played (modulo their
# number; one more choice means NULL where NULL is allowed). An edit that finds
# nothing to act on does nothing.


class Insert(NamedTuple):
    kind: str
    name: str
    ref: int  # the row a new Company, Contact, Deal or Comment points at


class Update(NamedTuple):
    kind: str
    index: int
    name: str  # may be the name it has: a save that changes no payload


class Delete(NamedTuple):
    kind: str
    index: int


class Repoint(NamedTuple):
    kind: str  # Company.owner, Contact.company, Deal.contact, Comment's subject
    index: int
    ref: int


class Link(NamedTuple):
    relation: str  # Contact.tags (no timestamp) or Contact.segments (timestamped)
    contact: int
    other: int


class Unlink(NamedTuple):
    relation: str
    link: int  # among the existing links of the relation


class Swap(NamedTuple):
    """Remove one linked row and add an unlinked one: the count stays the same.

    ``link`` picks an existing link (contact, other) that has an alternative;
    ``side`` says who keeps its count: "contact" replaces ``other`` by
    another tag (or segment), "other" replaces ``contact`` by another contact.
    """

    relation: str
    side: str
    link: int
    add: int  # among the rows that could replace the removed one


class Scenario(NamedTuple):
    setup: list  # played before the first sync
    rounds: list  # lists of edits, each followed by a check and a sync


NAMES = st.sampled_from("abc")
INDEX = st.integers(0, 7)
INSERTS = st.builds(Insert, st.sampled_from(KINDS), NAMES, INDEX)
LINKS = st.builds(Link, st.sampled_from(RELATIONS), INDEX, INDEX)
SWAPS = st.builds(
    Swap, st.sampled_from(RELATIONS), st.sampled_from(("contact", "other")), INDEX, INDEX
)
EDITS = st.one_of(
    INSERTS,
    st.builds(Update, st.sampled_from(KINDS), INDEX, NAMES),
    st.builds(Delete, st.sampled_from(KINDS), INDEX),
    st.builds(Repoint, st.sampled_from(list(REPOINTED)), INDEX, INDEX),
    LINKS,
    st.builds(Unlink, st.sampled_from(RELATIONS), INDEX),
    SWAPS,
    SWAPS,  # twice as likely as the others: the edit a count cannot see
)
#: A dense start: up to three rows of each model (dependencies first), then links.
SETUP = st.tuples(
    *(st.lists(st.builds(Insert, st.just(kind), NAMES, INDEX), max_size=3) for kind in KINDS),
    *(
        st.lists(st.builds(Link, st.just(relation), INDEX, INDEX), max_size=6)
        for relation in RELATIONS
    ),
).map(lambda parts: [edit for part in parts for edit in part])
SCENARIOS = st.builds(
    Scenario,
    setup=SETUP,
    rounds=st.lists(st.lists(EDITS, min_size=1, max_size=6), min_size=1, max_size=3),
)


#: The edit a count of related rows cannot see, played on every run.
SWAPPED_TAG = Scenario(
    setup=[
        Insert("Contact", "a", 0),
        Insert("Tag", "a", 0),
        Insert("Tag", "b", 0),
        Link("tags", contact=0, other=0),
    ],
    rounds=[[Swap("tags", side="contact", link=0, add=0)]],
)


# -- the world -----------------------------------------------------------------


class Clock:
    """Etlify's clock (``configure(now=...)``), moved by the test only."""

    def __init__(self) -> None:
        self.moment = T0

    def __call__(self) -> dt.datetime:
        return self.moment

    def advance(self, step: dt.timedelta) -> None:
        self.moment += step


class Graph(NamedTuple):
    """Every row of the graph, read with plain queries: ``{pk: (links..., stamp)}``."""

    persons: dict
    companies: dict  # pk: (owner, stamp)
    contacts: dict  # pk: (company, stamp)
    deals: dict  # pk: (contact, stamp)
    tags: dict
    segments: dict
    tag_links: set  # (contact, tag)
    subscriptions: dict  # pk: (contact, segment, created_at)
    targets: dict  # "Post"/"Photo": {pk: stamp}
    comments: dict  # pk: (subject_type, subject_id, stamp)


class Observation(NamedTuple):
    """What the oracle and the finder say about every record of the etlified models."""

    changed: set  # D: (model name, pk) whose payload digest is not the stored one
    moved: set  # M: stamped, or reaching a row stamped, since the last sync
    stale: set  # S: what the finder reports
    footprints: dict  # (model name, pk): frozenset of (table, id, stamp)
    payloads: dict  # (model name, pk): the payload now


def _fk_to(model, target):
    return next(fk for fk in model._meta.refs if fk.rel_model is target)


class World:
    """The models on one database, "hubspot" in memory, the clock, and the oracle."""

    def __init__(self, database) -> None:
        self.clock = Clock()
        etlify.configure(now=self.clock)
        self.adapter = InMemoryAdapter()
        etlify.register("hubspot", adapter=self.adapter)
        self.app = define_models(database)
        self.app.etlify_all()
        self.configs = {name: sync_config(self.app.by_name[name], "hubspot") for name in ETLIFIED}
        self.snapshot: dict = {}
        self.since: dt.datetime | None = None

    # -- one example -------------------------------------------------------

    def play(self, scenario: Scenario) -> None:
        self.reset()
        note("setup:")
        for edit in scenario.setup:
            self.apply(edit)
        self.sync(self.check("setup"))
        for number, edits in enumerate(scenario.rounds, 1):
            note(f"round {number}:")
            for edit in edits:
                self.apply(edit)
            self.sync(self.check(f"round {number}"))

    def reset(self) -> None:
        for model in reversed(self.app.models):
            model.delete().execute()
        Sync.delete().execute()
        PendingSync.delete().execute()
        self.adapter.objects.clear()
        self.adapter.calls.clear()
        self.clock.moment = T0
        self.snapshot = {}
        self.since = None

    def sync(self, seen: Observation) -> None:
        """Sync every stale record (``seen.stale``); then nothing is stale and every
        stored digest is the payload's."""
        self.clock.advance(SYNC_GAP)
        stats = BatchSync.call(async_=False)
        assert stats["errors"] == 0, stats
        assert stats["total"] == len(seen.stale), stats
        after = self.observe()
        assert not after.stale, f"stale right after a sync: {sorted(after.stale)}"
        assert not after.changed, f"digest not current after a sync: {sorted(after.changed)}"
        self.snapshot = after.footprints
        self.since = self.clock()

    def check(self, when: str) -> Observation:
        """``D ∪ M ⊆ S ⊆ F`` (see the module docstring)."""
        seen = self.observe()
        touched = {
            key for key, footprint in seen.footprints.items() if self.snapshot.get(key) != footprint
        }
        assert seen.changed <= touched, (
            f"{when}: oracle bug, a payload changed with its footprint unchanged: "
            f"{sorted(seen.changed - touched)}"
        )
        missed = seen.changed - seen.stale
        assert not missed, f"{when}: the finder missed changed payloads:\n" + self.explain(
            missed, seen
        )
        unmoved = seen.moved - seen.stale
        assert not unmoved, (
            f"{when}: the finder missed records whose dependencies were stamped since the "
            f"last sync: {sorted(unmoved)}"
        )
        spurious = seen.stale - touched
        assert not spurious, (
            f"{when}: the finder reported records of which nothing changed: {sorted(spurious)}"
        )
        return seen

    def explain(self, keys: set, seen: Observation) -> str:
        lines = []
        for name, pk in sorted(keys):
            config = self.configs[name]
            row = Sync.get_or_none(
                (Sync.crm_name == "hubspot")
                & (Sync.resource_type == name)
                & (Sync.resource_id == str(pk))
            )
            held = None
            if row is not None and row.crm_id:
                held = self.adapter.objects.get(config.crm_object_type, {}).get(row.crm_id)
            lines.append(
                f"  {name}#{pk}: the CRM holds {held}, the payload is now "
                f"{seen.payloads[(name, pk)]}"
            )
        return "\n".join(lines)

    # -- the oracle --------------------------------------------------------

    def observe(self) -> Observation:
        graph = self.graph()
        footprints = self.footprints(graph)
        changed, payloads, stale = set(), {}, set()
        for name, config in self.configs.items():
            model = config.model
            stored = dict(
                Sync.select(Sync.resource_id, Sync.last_digest)
                .where((Sync.crm_name == "hubspot") & (Sync.resource_type == name))
                .tuples()
            )
            for record in model.select().order_by(model.id):
                key = (name, record.id)
                payloads[key] = build_payload(config.serializer, record)
                digest = stored.get(str(record.id))
                if digest is None or digest != digest_of(payloads[key]):
                    changed.add(key)
            stale |= {(name, pk) for (pk,) in Finder.query(config).tuples()}
        moved = set()
        if self.since is not None:
            moved = {
                key
                for key, footprint in footprints.items()
                if any(stamp is not None and stamp > self.since for _, _, stamp in footprint)
            }
        else:
            moved = set(footprints)
        return Observation(changed, moved, stale, footprints, payloads)

    def graph(self) -> Graph:
        app = self.app

        def rows(model, *fields):
            return {values[0]: values[1:] for values in model.select(model.id, *fields).tuples()}

        def stamps(model):
            return dict(model.select(model.id, model.updated_at).tuples())

        return Graph(
            persons=stamps(app.Person),
            companies=rows(app.Company, app.Company.owner, app.Company.updated_at),
            contacts=rows(app.Contact, app.Contact.company, app.Contact.updated_at),
            deals=rows(app.Deal, app.Deal.contact, app.Deal.updated_at),
            tags=stamps(app.Tag),
            segments=stamps(app.Segment),
            tag_links=self.links("tags"),
            subscriptions=rows(
                app.Subscription,
                app.Subscription.contact,
                app.Subscription.segment,
                app.Subscription.created_at,
            ),
            targets={name: stamps(model) for name, model in app.targets.items()},
            comments=rows(
                app.Comment,
                app.Comment.subject_type,
                app.Comment.subject_id,
                app.Comment.updated_at,
            ),
        )

    @staticmethod
    def footprints(g: Graph) -> dict:
        """Per record: the rows its dependencies reach, with their stamps, and the links."""
        found = {}
        for pk, (company, stamp) in g.contacts.items():
            rows = {("Contact", pk, stamp)}
            if company in g.companies:
                owner, company_stamp = g.companies[company]
                rows.add(("Company", company, company_stamp))
                if owner in g.persons:
                    rows.add(("Person", owner, g.persons[owner]))
            rows |= {("Deal", d, s) for d, (contact, s) in g.deals.items() if contact == pk}
            for contact, tag in g.tag_links:
                if contact == pk:
                    rows.add(("TagLink", (contact, tag), None))
                    if tag in g.tags:
                        rows.add(("Tag", tag, g.tags[tag]))
            for sub, (contact, segment, created) in g.subscriptions.items():
                if contact == pk:
                    rows.add(("Subscription", sub, created))
                    if segment in g.segments:
                        rows.add(("Segment", segment, g.segments[segment]))
            found[("Contact", pk)] = frozenset(rows)
        for pk, (owner, stamp) in g.companies.items():
            rows = {("Company", pk, stamp)}
            if owner in g.persons:
                rows.add(("Person", owner, g.persons[owner]))
            rows |= {("Contact", c, s) for c, (company, s) in g.contacts.items() if company == pk}
            found[("Company", pk)] = frozenset(rows)
        for pk, stamp in g.tags.items():
            rows = {("Tag", pk, stamp)}
            for contact, tag in g.tag_links:
                if tag == pk:
                    rows.add(("TagLink", (contact, tag), None))
                    if contact in g.contacts:
                        rows.add(("Contact", contact, g.contacts[contact][1]))
            found[("Tag", pk)] = frozenset(rows)
        for pk, (subject_type, subject_id, stamp) in g.comments.items():
            rows = {("Comment", pk, stamp)}
            table = g.targets.get(subject_type, {})
            if subject_id is not None and int(subject_id) in table:
                rows.add((subject_type, int(subject_id), table[int(subject_id)]))
            found[("Comment", pk)] = frozenset(rows)
        return found

    # -- playing the edits -------------------------------------------------

    def apply(self, edit) -> None:
        self.clock.advance(EDIT_STEP)
        effect = getattr(self, f"_{type(edit).__name__.lower()}")(edit)
        note(f"  {edit!r}: {effect or 'nothing to do'}")

    def model(self, name: str):
        return self.app.by_name[name]

    def pks(self, name: str) -> list:
        model = self.model(name)
        return [pk for (pk,) in model.select(model.id).order_by(model.id).tuples()]

    def pick(self, name: str, index: int, none: bool = False):
        choices = self.pks(name) + ([None] if none else [])
        return choices[index % len(choices)] if choices else None

    def subject(self, index: int) -> tuple:
        choices = [(name, str(pk)) for name in self.app.targets for pk in self.pks(name)] + [
            (None, None)
        ]
        return choices[index % len(choices)]

    def links(self, relation: str) -> set:
        """``(contact, other)`` pairs of ``Contact.tags`` or ``Contact.segments``."""
        app = self.app
        through, other = (
            (app.TagLink, app.Tag) if relation == "tags" else (app.Subscription, app.Segment)
        )
        query = through.select(_fk_to(through, app.Contact), _fk_to(through, other))
        return set(query.tuples())

    def _insert(self, edit: Insert):
        fields: dict = {"name": edit.name}
        if edit.kind in ("Company", "Contact"):
            field, target, _ = REPOINTED[edit.kind]
            fields[field] = self.pick(target, edit.ref, none=True)
        elif edit.kind == "Deal":
            fields["contact"] = self.pick("Contact", edit.ref)
            if fields["contact"] is None:
                return None
        elif edit.kind == "Comment":
            fields["subject_type"], fields["subject_id"] = self.subject(edit.ref)
        record = self.model(edit.kind).create(**fields)
        return f"created {edit.kind}#{record.id} {fields}"

    def _update(self, edit: Update):
        pk = self.pick(edit.kind, edit.index)
        if pk is None:
            return None
        record = self.model(edit.kind).get_by_id(pk)
        before, record.name = record.name, edit.name
        record.save()
        return f"{edit.kind}#{pk}.name {before!r} -> {edit.name!r}"

    def _delete(self, edit: Delete):
        pk = self.pick(edit.kind, edit.index)
        if pk is None:
            return None
        self.model(edit.kind).get_by_id(pk).delete_instance(recursive=True)
        return f"deleted {edit.kind}#{pk}"

    def _repoint(self, edit: Repoint):
        pk = self.pick(edit.kind, edit.index)
        if pk is None:
            return None
        record = self.model(edit.kind).get_by_id(pk)
        if edit.kind == "Comment":
            before = (record.subject_type, record.subject_id)
            record.subject_type, record.subject_id = after = self.subject(edit.ref)
        else:
            field, target, nullable = REPOINTED[edit.kind]
            after = self.pick(target, edit.ref, none=nullable)
            if after is None and not nullable:
                return None
            before = record.__data__.get(field)
            setattr(record, field, after)
        record.save()
        return f"{edit.kind}#{pk}: {before} -> {after}"

    def _link(self, edit: Link):
        other_name = "Tag" if edit.relation == "tags" else "Segment"
        contact, other = self.pick("Contact", edit.contact), self.pick(other_name, edit.other)
        if contact is None or other is None or (contact, other) in self.links(edit.relation):
            return None
        accessor = getattr(self.model("Contact").get_by_id(contact), edit.relation)
        accessor.add(self.model(other_name).get_by_id(other))
        return f"linked Contact#{contact} to {other_name}#{other}"

    def _unlink(self, edit: Unlink):
        pairs = sorted(self.links(edit.relation))
        if not pairs:
            return None
        contact, other = pairs[edit.link % len(pairs)]
        other_name = "Tag" if edit.relation == "tags" else "Segment"
        accessor = getattr(self.model("Contact").get_by_id(contact), edit.relation)
        accessor.remove(self.model(other_name).get_by_id(other))
        return f"unlinked Contact#{contact} from {other_name}#{other}"

    def _swap(self, edit: Swap):
        other_name = "Tag" if edit.relation == "tags" else "Segment"
        pairs = self.links(edit.relation)
        if edit.side == "contact":
            owner_name, row_name, accessor_name = "Contact", other_name, edit.relation
            linked = {c: {o for cc, o in pairs if cc == c} for c, _ in pairs}
            links = sorted(pairs)
        else:
            owner_name, row_name, accessor_name = other_name, "Contact", "contacts"
            linked = {o: {c for c, oo in pairs if oo == o} for _, o in pairs}
            links = sorted((o, c) for c, o in pairs)
        rows = self.pks(row_name)
        choices = [(owner, out) for owner, out in links if len(linked[owner]) < len(rows)]
        if not choices:
            return None
        owner, out = choices[edit.link % len(choices)]
        free = [pk for pk in rows if pk not in linked[owner]]
        into = free[edit.add % len(free)]
        accessor = getattr(self.model(owner_name).get_by_id(owner), accessor_name)
        model = self.model(row_name)
        accessor.remove(model.get_by_id(out))
        accessor.add(model.get_by_id(into))
        return f"{owner_name}#{owner}.{accessor_name}: -{row_name}#{out} +{row_name}#{into}"


@pytest.fixture
def world(any_database):
    return World(any_database)


@pytest.fixture
def bounded_shrinking(monkeypatch):
    """Hypothesis shrinks a failure for up to five minutes; here for ``SHRINK_SECONDS``.

    An example costs a few hundred queries: the default would outlast the
    test timeout. Hypothesis still reports the smallest failure found by then.
    """
    monkeypatch.setattr(engine, "MAX_SHRINKING_SECONDS", SHRINK_SECONDS, raising=False)


def test_finder_reports_every_changed_payload_and_only_touched_records(
    world, soak, bounded_shrinking
):
    """``D ∪ M ⊆ S ⊆ F`` after every round of random edits (see the module docstring)."""

    @settings(
        max_examples=400 if soak else 40,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(scenario=SCENARIOS)
    @example(scenario=SWAPPED_TAG)
    def finder_matches_the_oracle(scenario):
        world.play(scenario)

    finder_matches_the_oracle()
