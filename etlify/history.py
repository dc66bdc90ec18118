"""Recording a run in the history (``etlify_runs``): one row per run and CRM.

:class:`BatchSync` records its inline runs; ``etlify sync`` records the runs
it hands to the job pool and waits for. A row is written when the run starts
(so a run whose process died shows, without an end) and completed when it
ends, also when it ends with an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import registry
from .declarations import SyncConfig
from .state import finish_run, start_run

__all__ = ["RunRecorder"]


class RunRecorder:
    """The history rows of one run over ``configs``, one per CRM.

    :param source: where the run was started from: ``"python"`` or ``"cli"``.
    """

    def __init__(self, configs: Iterable[SyncConfig], source: str = "python") -> None:
        models: dict[str, list[str]] = {}
        for config_ in configs:
            models.setdefault(config_.crm_name, []).append(config_.resource_type)
        #: ``{crm_name: run id}``
        self.ids = {name: start_run(name, types, source) for name, types in models.items()}
        self._requests_before = {name: _request_counts(name) for name in self.ids}

    def finish(
        self,
        counts: Mapping[str, Mapping[str, int]],
        stopped: Mapping[str, str],
        failures: Mapping[str, Any],
    ) -> None:
        """Complete each CRM's row: ``counts[crm]`` (``total`` and the outcome counters),
        ``stopped[crm]`` (why it stopped), ``failures[crm]`` (by kind)."""
        for name, run_id in self.ids.items():
            before, after = self._requests_before[name], _request_counts(name)
            requests = limited = None
            if before is not None and after is not None:
                requests, limited = after[0] - before[0], after[1] - before[1]
            finish_run(
                run_id,
                counts.get(name, {}),
                requests=requests,
                rate_limited=limited,
                stopped=stopped.get(name),
                failures=failures.get(name),
            )


def _request_counts(crm_name: str) -> tuple[int, int] | None:
    """``(requests, 429s)`` the CRM's adapter has counted so far; ``None`` if it does not."""
    count = getattr(registry.crm(crm_name).adapter, "request_counts", None)
    return None if count is None else tuple(count())
