"""What every command shares: loading the application, choosing models and CRMs, tables."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType, TracebackType
from typing import Any

from .. import declarations, registry

__all__ = [
    "UsageError",
    "load_app",
    "chosen_models",
    "chosen_crm",
    "add_filters",
    "positive_int",
    "format_table",
    "one_line",
]


class UsageError(Exception):
    """Bad use of the command line: reported in one line, exit status 2.

    Raised ``from`` an exception, ``--traceback`` prints that exception's
    traceback instead of the line.
    """


def load_app(args: argparse.Namespace, *, needs_models: bool = True) -> ModuleType:
    """Import the ``--app`` module from the current directory.

    ``--app module:create_app`` also calls the module's app factory (a Flask
    ``create_app``, say), which registers the CRMs.

    :param needs_models: also require a registered CRM and an etlified model.
    :raises UsageError: no module named, a module that cannot be imported,
        or (with ``needs_models``) one that registers no CRM or etlifies no model.
    """
    module = getattr(args, "app_module", None)
    if module is not None:  # imported already (flask etlify)
        _require_models(module.__name__, needs_models)
        return module
    name = args.app
    if not name:
        raise UsageError("name the application module with --app MODULE or $ETLIFY_APP")
    name, _, factory = name.partition(":")  # "module:create_app": a factory to call
    name = name.removesuffix(".py")  # "--app etlify_app.py" means the module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(name)
    except Exception as error:
        if isinstance(error, ModuleNotFoundError) and (
            error.name == name or name.startswith(f"{error.name}.")
        ):
            raise UsageError(f"no module named {name!r} (looked in {os.getcwd()})") from None
        raise _import_failed(name, error) from error
    if factory:
        _call_factory(module, name, factory)
    _require_models(name, needs_models)
    return module


def _require_models(name: str, needs_models: bool) -> None:
    if needs_models and not registry.crm_names():
        raise UsageError(f"module {name!r} registers no CRM: call etlify.register(...)")
    if needs_models and not declarations.etlified_models():
        raise UsageError(f"module {name!r} etlifies no model: call Model.etlified_with(...)")


def chosen_models(args: argparse.Namespace) -> list[type] | None:
    """The models named by ``--model`` (None: all); :class:`UsageError` for an unknown one."""
    if not args.model:
        return None
    known = {declarations.resource_type(model) for model in declarations.etlified_models()}
    unknown = [name for name in args.model if name not in known]
    if unknown:
        raise UsageError(
            f"unknown model {unknown[0]!r} (etlified models: {', '.join(sorted(known))})"
        )
    return [declarations.model_for(name) for name in args.model]


def chosen_crm(args: argparse.Namespace) -> str | None:
    """The CRM named by ``--crm`` (None: all); :class:`UsageError` when it is not registered."""
    if args.crm is not None and args.crm not in registry.crm_names():
        raise UsageError(
            f"unknown CRM {args.crm!r} (registered: {', '.join(registry.crm_names())})"
        )
    return args.crm


def add_filters(command: argparse.ArgumentParser, what: str) -> None:
    """Add the ``--model`` (repeatable) and ``--crm`` options."""
    command.add_argument(
        "--model", action="append", metavar="NAME", help=f"only {what} of this model; repeatable"
    )
    command.add_argument("--crm", metavar="NAME", help=f"only {what} for this CRM")


def positive_int(value: str) -> int:
    """An argparse ``type``: a positive integer."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {value!r}")
    return number


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """``rows`` under ``headers`` in aligned columns (numbers right-aligned)."""
    cells = [list(headers)] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int) for row in rows) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def one_line(error: BaseException) -> str:
    """``"ErrorType: first line of the message"``."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _call_factory(module: ModuleType, name: str, factory: str) -> Any:
    """Call ``module.factory()`` (an app factory that registers the CRMs); its result."""
    make = getattr(module, factory, None)
    if not callable(make):
        raise UsageError(f"module {name!r} has no factory {factory!r} to call")
    try:
        return make()
    except Exception as error:
        raise UsageError(f"{name}:{factory}() failed: {one_line(error)}") from error


def _import_failed(name: str, error: Exception) -> UsageError:
    """The error telling that module ``name`` raised ``error`` while being imported.

    It says where, in the module (or one of its submodules), ``error`` was
    raised, and hints at ``--traceback``; the traceback of ``error`` is cut to
    start in the module, leaving out the frames of Etlify and importlib.
    """
    frames = [tb for tb in _tracebacks(error) if _in_module(tb, name)]
    where = ""
    if frames:
        error.__traceback__ = frames[0]
        innermost = frames[-1]
        path = innermost.tb_frame.f_code.co_filename
        if path.startswith(os.getcwd() + os.sep):
            path = os.path.relpath(path)
        where = f" ({path}, line {innermost.tb_lineno})"
    return UsageError(
        f"importing {name!r} failed: {one_line(error)}{where} "
        "(run with --traceback for the full traceback)"
    )


def _tracebacks(error: BaseException) -> list[TracebackType]:
    """The entries of the traceback of ``error``, outermost first."""
    entries = []
    entry = error.__traceback__
    while entry is not None:
        entries.append(entry)
        entry = entry.tb_next
    return entries


def _in_module(entry: TracebackType, name: str) -> bool:
    """Whether the frame of ``entry`` runs code of module ``name`` or of a submodule."""
    module = entry.tb_frame.f_globals.get("__name__", "")
    return module == name or module.startswith(f"{name}.")
