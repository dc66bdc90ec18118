"""What ``etlified_with`` declares: one :class:`SyncConfig` per model and CRM."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

from . import registry
from .associations import Associate
from .errors import ConfigurationError
from .relations import resolve, validate_dependency
from .state import bind_database, database_proxy
from .write_policy import WritePolicy

__all__ = [
    "SyncConfig",
    "declare",
    "model_for",
    "etlified_models",
    "sync_config",
    "clear",
    "saved",
    "restore",
]


@dataclass(frozen=True)
class SyncConfig:
    """How one model syncs to one CRM."""

    model: type
    crm_name: str
    serializer: type
    crm_object_type: str
    id_property: str | None = None
    external_id_property: str | None = None
    sync_if: Callable[[Any], bool] | None = None
    dependencies: tuple = ()
    sync_dependencies: tuple[str, ...] = ()
    stale_scope: Callable[[Any], Any] | None = None
    job_class: Any = None
    prefetch: tuple[str, ...] = ()
    associations: tuple[Associate, ...] = ()
    write_policy: WritePolicy = field(default_factory=WritePolicy)

    @property
    def resource_type(self) -> str:
        """The model's registered name, stored in the sync rows."""
        return resource_type(self.model)

    @property
    def upsert_key(self) -> str | None:
        """The unique CRM property a new record is matched on: the external id
        property when declared, else ``id_property``."""
        return self.external_id_property or self.id_property

    def external_id(self, pk: Any) -> str:
        """The stable key of record ``pk`` held by ``external_id_property``."""
        return f"{self.resource_type}:{pk}"

    def prefetched_models(self) -> list[type]:
        """The models ``prefetch`` names, in the order Peewee's ``prefetch()`` takes them."""
        found: list[type] = []
        for path in self.prefetch:
            for hop in resolve(self.model, path):
                for model in (hop.through, hop.target):
                    if model is not None and model not in found:
                        found.append(model)
        return found


@dataclass
class _ModelEntry:
    name: str
    configs: dict[str, SyncConfig] = field(default_factory=dict)


_models: dict[type, _ModelEntry] = {}
_names: dict[str, type] = {}
_lock = threading.RLock()

_OPTIONS = {
    "serializer",
    "crm_object_type",
    "id_property",
    "external_id_property",
    "sync_if",
    "dependencies",
    "sync_dependencies",
    "stale_scope",
    "job_class",
    "resource_type",
    "prefetch",
    "associations",
    "write_policy",
}


def declare(model: type, crm_name: str, *, replace: bool = False, **options: Any) -> SyncConfig:
    """Validate ``options`` and record how ``model`` syncs to ``crm_name``.

    Declaring a model again for one CRM replaces its declaration, with a
    warning unless ``replace=True``. Raises :class:`ConfigurationError`
    naming the model and the option.
    """
    where = f"{model.__name__}.etlified_with({crm_name!r})"
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigurationError(f"{where}: unknown option(s) {sorted(unknown)}")
    if not hasattr(model, "_meta") or not hasattr(model._meta, "fields"):
        raise ConfigurationError(f"{where}: {model!r} is not a peewee Model")
    try:
        registry.crm(crm_name)
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}: {error}") from None
    serializer = options.get("serializer")
    if serializer is None:
        raise ConfigurationError(f"{where}: the serializer option is required")
    if not isinstance(serializer, type) or not (
        hasattr(serializer, "as_crm_payload") or hasattr(serializer, "to_dict")
    ):
        raise ConfigurationError(
            f"{where}: serializer must be a class with as_crm_payload() or to_dict(), "
            f"not {serializer!r}"
        )
    object_type = options.get("crm_object_type")
    if not object_type or not isinstance(object_type, str):
        raise ConfigurationError(
            f"{where}: the crm_object_type option is required (e.g. 'contacts')"
        )
    id_property = options.get("id_property")
    external_id_property = options.get("external_id_property")
    keys = (("id_property", id_property), ("external_id_property", external_id_property))
    for option, value in keys:
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigurationError(f"{where}: {option} must be a property name, not {value!r}")
    for name in ("sync_if", "stale_scope"):
        if options.get(name) is not None and not callable(options[name]):
            raise ConfigurationError(f"{where}: {name} must be callable, not {options[name]!r}")
    job_class = options.get("job_class")
    if job_class is not None and not callable(getattr(job_class, "perform_later", None)):
        raise ConfigurationError(f"{where}: job_class {job_class!r} has no perform_later() method")
    dependencies = tuple(_as_list(where, "dependencies", options.get("dependencies")))
    for dependency in dependencies:
        validate_dependency(model, dependency, where, "dependencies")
    sync_dependencies = tuple(
        _as_list(where, "sync_dependencies", options.get("sync_dependencies"))
    )
    for dependency in sync_dependencies:
        validate_dependency(model, dependency, where, "sync_dependencies", foreign_key_only=True)

    prefetch = tuple(_as_list(where, "prefetch", options.get("prefetch")))
    for path in prefetch:
        validate_dependency(model, path, where, "prefetch")
    associations = tuple(_as_list(where, "associations", options.get("associations")))
    for association in associations:
        if not isinstance(association, Associate):
            raise ConfigurationError(
                f"{where}: associations must be Associate(...) declarations, not {association!r}"
            )
        association.validate(model, where)
    adapter = registry.crm(crm_name).adapter
    missing = [name for name in ("batch_associate", "batch_dissociate")
               if not callable(getattr(adapter, name, None))]  # fmt: skip
    if associations and missing:
        raise ConfigurationError(
            f"{where}: associations need an adapter with batch_associate() and "
            f"batch_dissociate(); {type(adapter).__name__} has no {' or '.join(missing)}()"
        )
    keys = tuple(key for key in (id_property, external_id_property) if key)
    write_policy = WritePolicy.declared(where, options.get("write_policy"), keys)
    if not callable(getattr(adapter, "batch_read", None)) and write_policy.reads_first(keys):
        raise ConfigurationError(
            f"{where}: write_policy has if_empty (or create_only, with a key new objects are "
            f"matched on) fields, which need the CRM's values: {type(adapter).__name__} has "
            "no batch_read()"
        )
    for association in associations:
        if association.path not in dependencies:
            dependencies += (association.path,)
    name = options.get("resource_type") or model.__name__
    config = SyncConfig(
        model=model,
        crm_name=crm_name,
        serializer=serializer,
        crm_object_type=object_type,
        id_property=id_property,
        external_id_property=external_id_property,
        sync_if=options.get("sync_if"),
        dependencies=dependencies,
        sync_dependencies=sync_dependencies,
        stale_scope=options.get("stale_scope"),
        job_class=job_class,
        prefetch=prefetch,
        associations=associations,
        write_policy=write_policy,
    )
    with _lock:
        owner = _names.get(name)
        if owner is not None and owner is not model:
            raise ConfigurationError(
                f"{where}: another etlified model, {owner.__module__}.{owner.__qualname__}, "
                f"is already registered as {name!r}; pass resource_type='...' to one of them"
            )
        entry = _models.get(model)
        if entry is not None and entry.name != name:
            raise ConfigurationError(
                f"{where}: the model is already registered as {entry.name!r}, not {name!r}"
            )
        if entry is None:
            entry = _models[model] = _ModelEntry(name)
            _names[name] = model
        if crm_name in entry.configs and not replace:
            warnings.warn(
                f"{where}: {model.__name__} was already etlified for {crm_name!r}; this "
                "declaration replaces the first one (pass replace=True to say so)",
                stacklevel=3,
            )
        entry.configs[crm_name] = config
    if database_proxy.obj is None:
        bind_database(model._meta.database)
    return config


def _as_list(where: str, option: str, value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise ConfigurationError(
            f"{where}: {option} must be a list of relation names, not {value!r}"
        )
    return list(value)


def resource_type(model: type) -> str:
    """The registered name of an etlified model."""
    entry = _models.get(model)
    if entry is None:
        raise ConfigurationError(
            f"{model.__name__} is not etlified: call {model.__name__}.etlified_with(...)"
        )
    return entry.name


def sync_config(model: type, crm_name: str) -> SyncConfig:
    """How ``model`` syncs to ``crm_name``; :class:`ConfigurationError` when it does not."""
    registry.crm(crm_name)
    entry = _models.get(model)
    if entry is None or crm_name not in entry.configs:
        raise ConfigurationError(
            f"{model.__name__} is not configured for CRM {crm_name!r}: call "
            f"{model.__name__}.etlified_with({crm_name!r}, serializer=..., crm_object_type=...)"
        )
    return entry.configs[crm_name]


def crm_names_for(model: type) -> list[str]:
    """The CRMs ``model`` is configured for, in declaration order."""
    entry = _models.get(model)
    return list(entry.configs) if entry else []


def model_for(name: str) -> type:
    """The etlified model registered as ``name`` (what jobs carry)."""
    try:
        return _names[name]
    except KeyError:
        raise ConfigurationError(f"no etlified model is registered as {name!r}") from None


def etlified_models() -> list[type]:
    """Every etlified model, in declaration order."""
    return list(_models)


def configs(models: Any = None, crm_name: str | None = None) -> list[SyncConfig]:
    """The sync configurations of ``models`` (default: all) for ``crm_name`` (default: all).

    A model not configured for ``crm_name`` contributes nothing (it is never
    synced to its other CRMs instead).
    """
    chosen = etlified_models() if models is None else list(models)
    out = []
    for model in chosen:
        entry = _models.get(model)
        if entry is None:
            raise ConfigurationError(
                f"{getattr(model, '__name__', model)!r} is not an etlified model"
            )
        for name, config in entry.configs.items():
            if crm_name is None or name == crm_name:
                out.append(config)
    return out


def has_dependants(model: type, crm_name: str) -> bool:
    """Whether some model lists ``model`` in its ``sync_dependencies`` for ``crm_name``,
    or associates its records with records of ``model``."""
    return any(
        config.model._meta.fields[name].rel_model is model
        for config in configs(crm_name=crm_name)
        for name in config.sync_dependencies
    ) or any(
        association.target(config.model) is model
        for config in configs(crm_name=crm_name)
        for association in config.associations
    )


def saved() -> Any:
    """Every declaration as it is now, for :func:`restore`."""
    with _lock:
        models = {model: _ModelEntry(e.name, dict(e.configs)) for model, e in _models.items()}
        return models, dict(_names)


def restore(declarations: Any) -> None:
    """Put back the declarations of :func:`saved`, forgetting those made since."""
    models, names = declarations
    with _lock:
        _models.clear()
        _models.update({model: _ModelEntry(e.name, dict(e.configs)) for model, e in models.items()})
        _names.clear()
        _names.update(names)


def clear() -> None:
    """Forget every declaration (for test isolation)."""
    with _lock:
        _models.clear()
        _names.clear()
