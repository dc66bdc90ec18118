"""``EtlifyMixin``: the per-record API on a Peewee model."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from peewee import Model

from . import jobs
from .declarations import crm_names_for, declare, resource_type, sync_config
from .engine import delete_batch, delete_record, forget_record, sync_record
from .serializers import build_payload
from .state.rows import Scope

__all__ = ["EtlifyMixin", "etlified_with", "install_crm_methods", "uninstall_crm_methods"]


class EtlifyMixin:
    """Mix into a Peewee model to sync it to the registered CRMs.

    A plain class (no fields, no metaclass), so it composes with Peewee's
    ``ModelBase`` and with model inheritance. Sync state lives in Etlify's own
    tables. For every registered CRM ``x``, ``x_etlified_with``, ``x_sync``,
    ``x_delete`` and ``x_build_payload`` are generated.
    """

    @classmethod
    def etlified_with(cls, crm_name: str, **options: Any) -> type:
        """Declare how this model syncs to ``crm_name``; returns the class.

        Options: ``serializer`` and ``crm_object_type`` (required),
        ``id_property``, ``sync_if``, ``dependencies``, ``sync_dependencies``,
        ``stale_scope``, ``job_class``, ``resource_type``, ``prefetch`` (relations
        the serializer reads, loaded for a whole batch in one query each).

        :raises ConfigurationError: for an unregistered CRM, a missing or bad
            option, or a dependency that is not a relation of the model.
        """
        declare(cls, crm_name, **options)
        return cls

    def sync(self, crm_name: str | None = None, async_: bool = True) -> Any:
        """Sync this record to ``crm_name``, or to every CRM configured for the model.

        Inline (``async_=False``) returns an :class:`etlify.Status`; async
        returns a handle (a ``Future`` whose ``.result()`` is the status, or
        what the CRM's ``job_class.perform_later`` returned). With no CRM name
        and several CRMs, returns ``{crm_name: result}``.
        """
        if crm_name is not None:
            return self.crm_sync(crm_name, async_=async_)
        names = crm_names_for(type(self))
        if not names:
            resource_type(type(self))  # raises the "not etlified" error
        results = {name: self.crm_sync(name, async_=async_) for name in names}
        return results if len(results) > 1 else results[names[0]]

    def crm_sync(self, crm_name: str, async_: bool = True) -> Any:
        """Sync this record to ``crm_name``; see :meth:`sync`."""
        config = sync_config(type(self), crm_name)
        pk = _primary_key(self)
        if async_:
            return jobs.dispatch(config, pk, record=self)
        return sync_record(type(self), pk, crm_name, record=self)

    def crm_delete(self, crm_name: str) -> Any:
        """Delete this record from ``crm_name`` (inline).

        Returns ``Status.DELETED``, ``NOOP`` (never synced), ``DISABLED`` or
        ``ERROR``. On success the stored CRM id and digest are cleared.
        """
        sync_config(type(self), crm_name)
        return delete_record(type(self), _primary_key(self), crm_name, record=self)

    def delete_instance(self, *args: Any, **kwargs: Any) -> Any:
        """Delete the record as Peewee does, then forget its sync state.

        The CRM objects are left in the CRM; what goes is the link, so that a
        new record that gets this primary key again (SQLite reuses the highest
        rowid) starts with no CRM id instead of taking over the deleted
        record's CRM object. This instance remembers the links:
        ``crm_delete()`` on it still deletes its CRM objects. Bulk
        ``Model.delete()`` queries bypass this.
        """
        pk = self._pk
        deleted = super().delete_instance(*args, **kwargs)  # type: ignore[misc]
        if pk is not None:
            self._etlify_forgotten = forget_record(type(self), pk)
        return deleted

    @classmethod
    def crm_delete_many(cls, crm_name: str, ids: Iterable[Any]) -> dict[str, int]:
        """Delete the records ``ids`` of this model from ``crm_name`` (inline).

        Uses the adapter's ``batch_delete`` (100 objects a request) when it
        has one. Returns counts by outcome: ``deleted``, ``noop`` (no CRM id),
        ``busy`` (being synced right now: try again), ``errors``; ``disabled``
        for a disabled CRM.
        """
        counts = delete_batch(sync_config(cls, crm_name), list(ids))
        return {name: counts[name] for name in counts if counts[name]}

    def build_crm_payload(self, crm_name: str) -> dict[str, Any]:
        """The payload the serializer builds for ``crm_name``."""
        return build_payload(sync_config(type(self), crm_name).serializer, self)

    def crm_synchronisation(self, crm_name: str) -> Any:
        """This record's ``CrmSynchronisation`` row for ``crm_name``, or ``None``."""
        config = sync_config(type(self), crm_name)
        return Scope.of(config).row(str(_primary_key(self)))


def _primary_key(record: Any) -> Any:
    pk = record._pk
    if pk is None:
        raise ValueError(f"{type(record).__name__} has no primary key yet: save it before syncing")
    return pk


def etlified_with(crm_name: str, **options: Any):
    """Class decorator form of ``Model.etlified_with(crm_name, **options)``."""

    def decorate(model: type) -> type:
        declare(model, crm_name, **options)
        return model

    return decorate


def _generated(crm_name: str) -> dict[str, Any]:
    def etlified(cls, **options):
        return cls.etlified_with(crm_name, **options)

    def sync(self, async_=True):
        return self.crm_sync(crm_name, async_=async_)

    def delete(self):
        return self.crm_delete(crm_name)

    def build_payload(self):
        return self.build_crm_payload(crm_name)

    etlified.__doc__ = f"``etlified_with({crm_name!r}, **options)``."
    sync.__doc__ = f"``crm_sync({crm_name!r}, async_=async_)``."
    delete.__doc__ = f"``crm_delete({crm_name!r})``."
    build_payload.__doc__ = f"``build_crm_payload({crm_name!r})``."
    return {
        f"{crm_name}_etlified_with": classmethod(etlified),
        f"{crm_name}_sync": sync,
        f"{crm_name}_delete": delete,
        f"{crm_name}_build_payload": build_payload,
    }


_installed: set[str] = set()


def generated_names(crm_name: str) -> list[str]:
    """The names of the methods generated for ``crm_name``."""
    return list(_generated(crm_name))


def clashing_names(crm_name: str) -> list[str]:
    """Generated names that would hide a method of Etlify's or of Peewee's ``Model``."""
    return [
        name
        for name in generated_names(crm_name)
        if name not in _installed and (hasattr(EtlifyMixin, name) or hasattr(Model, name))
    ]


def install_crm_methods(crm_name: str) -> None:
    """Give every etlified model (present and future) the ``<crm>_...`` methods."""
    for name, method in _generated(crm_name).items():
        setattr(EtlifyMixin, name, method)
        _installed.add(name)


def uninstall_crm_methods(crm_name: str) -> None:
    """Remove the generated ``<crm>_...`` methods."""
    for name in _generated(crm_name):
        if name in _installed:
            delattr(EtlifyMixin, name)
            _installed.discard(name)
