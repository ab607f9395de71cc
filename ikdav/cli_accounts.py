"""Commands that manage accounts: ``connect``, ``accounts``, ``passwords`` and ``rotate-key``.

They work on the same account store as ``ikdav serve`` (SQLite allows both at once) and share
the connect app's linking code, so a token checked here is checked exactly like one pasted into
the connect page. Secrets are printed only where the command's purpose is to hand one out (a
new app password), never a token. ``rotate-key`` should run while ikdav is stopped: a running
server keeps the key it started with.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

__all__ = ["ACCOUNT_COMMANDS", "register_accounts", "register_connect", "register_passwords",
           "register_rotate_key"]

if TYPE_CHECKING:
    from ikdav.config import Config
    from ikdav.services import Services

# ikdav.cli imports this module to list the commands, so ikdav.cli is imported in the functions below.


def _config_option(parser: argparse.ArgumentParser) -> None:
    """``--config`` after a sub-command's action too (``ikdav accounts list --config X``)."""
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $IKDAV_CONFIG, else ./config.yaml if present)")


@contextmanager
def _services(config: Config) -> Iterator[Services]:
    from ikdav.accounts.crypto import SecretKeyError
    from ikdav.cli import UsageError
    from ikdav.logs import setup_logging
    from ikdav.services import build_services

    setup_logging(config)
    try:
        services = build_services(config)
    except SecretKeyError as exc:
        raise UsageError(str(exc)) from None
    try:
        yield services
    finally:
        services.close()


def _fail(failure: Any) -> int:
    """A :class:`~ikdav.connect.failures.Failure` as one line: exit 1 for outages, else usage (2)."""
    from ikdav.cli import UsageError

    if failure.status >= 500:
        print(f"ikdav: error: {failure.title}: {failure.message}", file=sys.stderr)
        return 1
    raise UsageError(f"{failure.title}: {failure.message}")


def _print_credentials(config: Config, email: str, password: str) -> None:
    """What a WebDAV client needs, one ``Key: value`` line each (scripts read them)."""
    print(f"WebDAV URL: {config.share_url}")
    print(f"User: {email}")
    print(f"Password: {password}")


def _account(services: Services, email: str) -> Any:
    from ikdav.cli import UsageError

    account = services.store.by_email(email.strip())
    if account is None:
        raise UsageError(f"no account {email.strip()!r} is connected (see: ikdav accounts list)")
    return account


# -- connect --------------------------------------------------------------------------------------------


def register_connect(commands: Any) -> None:
    from ikdav.cli import add_command

    parser = add_command(
        commands, "connect", uses_config=True,
        summary="connect an account with a personal API token",
        description="Check a personal API token against Infomaniak (the profile when the token has "
                    "user_info, else the drive list and the mailboxes), store the account and print "
                    "the WebDAV URL, the user name and a new app password. Create the token in the "
                    "Infomaniak Manager with the scopes user_info, drive and workspace:mail. Pass - "
                    "as TOKEN to read it from standard input (keeps it out of the shell history).",
        examples=["ikdav connect --token -", "ikdav connect --token \"$TOKEN\" --email jane@example.ch"])
    parser.add_argument("--token", required=True, metavar="TOKEN", help="the personal API token, or -")
    parser.add_argument("--email", default="", metavar="E",
                        help="the account's e-mail (needed only when the token has no user_info scope)")
    parser.add_argument("--label", default="command line", metavar="L",
                        help="label of the new app password (default: %(default)s)")
    parser.set_defaults(handler=run_connect)


def run_connect(args: argparse.Namespace) -> int:
    from ikdav.accounts.store import KIND_TOKEN
    from ikdav.cli import load_cli_config
    from ikdav.connect import linking
    from ikdav.connect.failures import Failure

    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    config = load_cli_config(args)
    with _services(config) as services:
        try:
            owner = linking.owner_of_personal_token(services, token, args.email)
        except Failure as failure:
            return _fail(failure)
        account = linking.save_connection(services, owner, auth_kind=KIND_TOKEN, access_token=token)
        _, password = services.store.create_app_password(account.id, args.label)
        reach = owner.reach
        print(f"Connected: {account.email} ({len(reach.drives)} kDrive(s), "
              f"{len(reach.mailboxes)} mailbox(es))")
        _print_credentials(config, account.email, password)
    return 0


# -- accounts -------------------------------------------------------------------------------------------


def register_accounts(commands: Any) -> None:
    from ikdav.cli import add_command

    parser = add_command(
        commands, "accounts", uses_config=True,
        summary="list or remove connected accounts",
        description="'list' prints one line per account: e-mail, status, how it was linked, when it was "
                    "last used and how many app passwords it has (no secrets). 'remove EMAIL' revokes an "
                    "OAuth account's authorisation at Infomaniak when possible, then deletes the account, "
                    "its tokens and its app passwords.",
        examples=["ikdav accounts list", "ikdav accounts remove jane@example.ch"])
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="show the connected accounts")
    _config_option(listing)
    listing.set_defaults(handler=run_accounts_list)
    remove = actions.add_parser("remove", help="revoke and delete an account")
    remove.add_argument("email", metavar="EMAIL")
    _config_option(remove)
    remove.set_defaults(handler=run_accounts_remove)


def run_accounts_list(args: argparse.Namespace) -> int:
    from ikdav.cli import load_cli_config
    from ikdav.connect.pages import last_used, when

    config = load_cli_config(args)
    with _services(config) as services:
        accounts = services.store.list()
        if not accounts:
            print("No account is connected. Connect one in the connect page, or with: "
                  "ikdav connect --token -")
            return 0
        rows = [("EMAIL", "STATUS", "KIND", "LAST USED", "PASSWORDS")]
        for account in accounts:
            status = "connected" if account.connected else "reconnect needed"
            passwords = services.store.app_passwords(account.id)
            rows.append((account.email, status, account.auth_kind, when(last_used(account, passwords)),
                         str(len(passwords))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def run_accounts_remove(args: argparse.Namespace) -> int:
    from ikdav.cli import load_cli_config
    from ikdav.connect import linking

    config = load_cli_config(args)
    with _services(config) as services:
        account = _account(services, args.email)
        outcome = linking.disconnect(services, account, remove=True)
    print(f"Removed {account.email}: its tokens and app passwords are deleted.")
    if outcome.revoke_problem:
        print(f"warning: not revoked at Infomaniak: {outcome.revoke_problem}", file=sys.stderr)
    elif account.auth_kind == "oauth":
        print("Infomaniak revoked the authorisation.")
    if outcome.note:
        print(outcome.note)
    return 0


# -- passwords ------------------------------------------------------------------------------------------


def register_passwords(commands: Any) -> None:
    from ikdav.cli import add_command

    parser = add_command(
        commands, "passwords", uses_config=True,
        summary="create an app password for an account",
        description="'new EMAIL' creates an app password for a connected account and prints it once, "
                    "with the WebDAV URL and user name. Revoke app passwords on the account page.",
        examples=["ikdav passwords new jane@example.ch",
                  "ikdav passwords new jane@example.ch --label laptop"])
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = actions.add_parser("new", help="create an app password and print it once")
    new.add_argument("email", metavar="EMAIL")
    new.add_argument("--label", default="command line", metavar="L",
                     help="what the password is for (default: %(default)s)")
    _config_option(new)
    new.set_defaults(handler=run_passwords_new)


def run_passwords_new(args: argparse.Namespace) -> int:
    from ikdav.cli import load_cli_config

    config = load_cli_config(args)
    with _services(config) as services:
        account = _account(services, args.email)
        _, password = services.store.create_app_password(account.id, args.label)
    _print_credentials(config, account.email, password)
    if not account.connected:
        print("warning: this account needs reconnecting; the share refuses it until then.", file=sys.stderr)
    return 0


# -- rotate-key -----------------------------------------------------------------------------------------


def register_rotate_key(commands: Any) -> None:
    from ikdav.cli import add_command

    parser = add_command(
        commands, "rotate-key", uses_config=True,
        summary="re-encrypt the stored tokens under a new secret key",
        description="Stop ikdav first. With a key file: a new key is generated, the file holds new and "
                    "old key while every token is re-encrypted, then only the new key. With "
                    "IKDAV_SECRET_KEY: set it to \"NEW,OLD\" (a new Fernet key first, then the current "
                    "one), run this, then set it to NEW alone.",
        examples=["ikdav rotate-key",
                  "IKDAV_SECRET_KEY=\"$NEW_KEY,$OLD_KEY\" ikdav rotate-key"])
    parser.set_defaults(handler=run_rotate_key)


def run_rotate_key(args: argparse.Namespace) -> int:
    import os

    from ikdav.accounts.crypto import ENV_KEY, SecretKeyError
    from ikdav.cli import UsageError, load_cli_config

    config = load_cli_config(args)
    try:
        if os.environ.get(ENV_KEY, "").strip():
            return _rotate_env_keys(config, os.environ[ENV_KEY])
        return _rotate_key_file(config)
    except SecretKeyError as exc:
        raise UsageError(str(exc)) from None


def _open_store(config: Config, cipher: Any) -> Any:
    from ikdav.accounts.store import AccountStore
    from ikdav.services import DATABASE_NAME

    path = config.data_path / DATABASE_NAME
    return AccountStore(path, cipher) if path.exists() else None


def _check_readable(config: Config, cipher: Any) -> None:
    """Every stored token opens with ``cipher`` (raises SecretKeyError otherwise)."""
    store = _open_store(config, cipher)
    if store is None:
        return
    try:
        for account in store.list():
            store.read_tokens(account.id)
    finally:
        store.close()


def _rotate(config: Config, cipher: Any) -> int:
    store = _open_store(config, cipher)
    if store is None:
        return 0
    try:
        return int(store.rotate_key(cipher))
    finally:
        store.close()


def _rotate_env_keys(config: Config, value: str) -> int:
    from ikdav.accounts.crypto import ENV_KEY, TokenCipher, parse_keys
    from ikdav.cli import UsageError

    keys = parse_keys(value)
    if len(keys) < 2 or keys[0] == keys[1]:
        raise UsageError(
            f"{ENV_KEY} holds one key; set {ENV_KEY}=\"NEW,OLD\" (NEW from: python -c 'from "
            "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())', OLD the current "
            "key) and run ikdav rotate-key again")
    cipher = TokenCipher(keys)
    count = _rotate(config, cipher)
    _check_readable(config, TokenCipher(keys[:1]))
    print(f"Re-encrypted the tokens of {count} account(s) under the first key of {ENV_KEY}.")
    print(f"Next: set {ENV_KEY} to that first key alone (drop the old one), then start ikdav.")
    return 0


def _rotate_key_file(config: Config) -> int:
    from ikdav.accounts.crypto import ENV_KEY, TokenCipher, generate_key, parse_keys, write_key_file
    from ikdav.cli import UsageError

    path = config.secret_key_path
    if not path.exists():
        raise UsageError(f"no key file at {path} and {ENV_KEY} is not set: there is no key to rotate "
                         "(ikdav creates the key file on first start)")
    old_keys = parse_keys(path.read_text("ascii"))
    TokenCipher(old_keys)  # refuse a malformed file before touching anything
    new_key = generate_key()
    write_key_file(path, [new_key, *old_keys])  # both keys: a crash here loses nothing
    count = _rotate(config, TokenCipher([new_key, *old_keys]))
    _check_readable(config, TokenCipher([new_key]))
    write_key_file(path, [new_key])
    print(f"Re-encrypted the tokens of {count} account(s) under a new key; {path} now holds only the "
          "new key (mode 0600).")
    print("Next: start ikdav again; the old key no longer opens the tokens.")
    return 0


ACCOUNT_COMMANDS = [register_connect, register_accounts, register_passwords, register_rotate_key]
