"""`twin keys`: create, list and revoke the write API's keys (see twin/auth.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from twin.errors import TwinError, exit_code

if TYPE_CHECKING:
    from twin.auth import KeyStore

keys_app = typer.Typer(help="API keys of the write API (field crews).", no_args_is_help=True)
err = Console(stderr=True, highlight=False)


def _store() -> KeyStore:
    """The key store of the settings' keys file. twin.auth and the settings are imported
    here, by the key commands only: every other `twin` command (each load a cron job or a
    test starts) would pay for them at start."""
    from twin.auth import store_for
    from twin.settings import get_settings

    return store_for(get_settings().keys_path)


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="Who writes with it (recorded in the audit)")],
    scope: Annotated[list[str], typer.Option(help="Scope, e.g. street-damage:write")],
    no_if_match: Annotated[bool, typer.Option(
        "--no-if-match", help="Accept writes without If-Match (QGIS does not send it); "
        "a stale If-Match is still refused")] = False,
) -> None:
    """Create a key; prints it once (only its salted hash is stored)."""
    store = _store()
    try:
        token = store.add(name, scope, require_if_match=not no_if_match)
    except TwinError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
        raise typer.Exit(exit_code(exc)) from exc
    err.print(f"key '{name}' ({', '.join(scope)}) stored in {store.path}. Copy it now; it is "
              "not shown again:")
    # The token alone on stdout, so scripts can capture it.
    print(token)


@keys_app.command("list")
def keys_list() -> None:
    """Names, scopes and creation time of every key (never a key itself)."""
    store = _store()
    try:
        keys = store.keys()
    except TwinError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
        raise typer.Exit(exit_code(exc)) from exc
    if not keys:
        err.print(f"no keys in {store.path}")
    for k in keys:
        lock = "If-Match required" if k.require_if_match else "If-Match optional"
        print(f"{k.name}\t{','.join(k.scopes)}\t{lock}\tcreated {k.created_at}\tid {k.id}")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="Name of the key")]) -> None:
    """Remove a key; the server refuses it from its next request on."""
    store = _store()
    if not store.revoke(name):
        err.print(f"[bold red]error:[/] no key named '{name}' in {store.path}", markup=True)
        raise typer.Exit(1)
    err.print(f"key '{name}' revoked")
