"""Per-field write policies: which fields of a payload are sent, and when.

``write_policy={"phone": "if_empty", "lifecyclestage": "create_only", "*": "skip_null"}``:

- ``always`` (the default): the field is sent whenever the payload is;
- ``skip_null``: a ``None`` is never sent, so it never clears the CRM's value;
- ``create_only``: the field is sent only when the object is created;
- ``if_empty``: the field is sent only when the CRM's value is empty (this
  needs the CRM's values: one batch read per 100 records sent that have it).

``"*"`` is the policy of every field not named. The digest still covers the
whole payload and decides whether anything is sent; the policy decides what.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError

__all__ = ["WritePolicy", "POLICIES"]

ALWAYS, SKIP_NULL, CREATE_ONLY, IF_EMPTY = "always", "skip_null", "create_only", "if_empty"
#: The policies a field can have.
POLICIES = (ALWAYS, SKIP_NULL, CREATE_ONLY, IF_EMPTY)


@dataclass(frozen=True)
class WritePolicy:
    """The policy of each field; ``default`` for fields not named."""

    fields: tuple[tuple[str, str], ...] = ()
    default: str = ALWAYS

    @classmethod
    def declared(cls, where: str, value: Any, keys: tuple[str, ...]) -> WritePolicy:
        """The policy ``write_policy=value`` declares; ``keys`` (the properties new
        objects are matched on) are always sent.

        :raises ConfigurationError: naming ``where``, the field and the policy.
        """
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                f"{where}: write_policy must be a dict of field name to policy, not {value!r}"
            )
        for name, policy in value.items():
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"{where}: write_policy: {name!r} is not a field name")
            if policy not in POLICIES:
                raise ConfigurationError(
                    f"{where}: write_policy[{name!r}] is {policy!r}; use one of "
                    f"{', '.join(POLICIES)}"
                )
            if name in keys and policy != ALWAYS:
                raise ConfigurationError(
                    f"{where}: write_policy[{name!r}] is {policy!r}, but {name!r} is the key "
                    "new objects are matched on: it is always sent"
                )
        fields = tuple(sorted((n, p) for n, p in value.items() if n != "*"))
        return cls(fields, value.get("*", ALWAYS))

    def of(self, name: str) -> str:
        """The policy of field ``name``."""
        for field, policy in self.fields:
            if field == name:
                return policy
        return self.default

    @property
    def is_default(self) -> bool:
        """Whether every field is always sent (no policy declared)."""
        return self.default == ALWAYS and all(policy == ALWAYS for _, policy in self.fields)

    def reads_first(self, keys: tuple[str, ...]) -> bool:
        """Whether some writes need the CRM's values first: an ``if_empty`` field, or
        a ``create_only`` one when new objects may match existing ones (``keys``)."""
        named = {policy for _, policy in self.fields} | {self.default}
        return IF_EMPTY in named or (bool(keys) and CREATE_ONLY in named)

    def needs_read(self, payload: Mapping[str, Any]) -> list[str]:
        """The fields of ``payload`` whose CRM values must be read first (``if_empty``)."""
        return [name for name in payload if self.of(name) == IF_EMPTY]

    def needs_lookup(self, payload: Mapping[str, Any]) -> bool:
        """Whether sending ``payload`` to an object that may exist already depends
        on whether it does (a ``create_only`` or ``if_empty`` field)."""
        return any(self.of(name) in (CREATE_ONLY, IF_EMPTY) for name in payload)

    def apply(
        self,
        payload: Mapping[str, Any],
        creating: bool,
        crm_values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The fields of ``payload`` to send to an object being created
        (``creating``) or updated, whose ``if_empty`` fields hold ``crm_values``."""
        sent = {}
        for name, value in payload.items():
            policy = self.of(name)
            if value is None and policy != ALWAYS:
                continue
            if policy == CREATE_ONLY and not creating:
                continue
            if policy == IF_EMPTY and not creating:
                current = (crm_values or {}).get(name)
                if current not in (None, ""):
                    continue
            sent[name] = value
        return sent
