"""Linking Infomaniak accounts: check a new token, store it, revoke and remove — for pages and CLI.

The browser flow and the ``ikdav connect``/``accounts`` commands do the same things, so they
share this module: find out whose token it is and what it reaches (:func:`owner_of_oauth_token`,
:func:`owner_of_personal_token`), store it (:func:`save_connection`), and undo it
(:func:`disconnect`). Problems are raised as :class:`~ikdav.connect.failures.Failure`, whose text
names the cause and the fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ikdav.accounts.crypto import SecretKeyError
from ikdav.accounts.store import KIND_OAUTH, Account, StoreError
from ikdav.connect import failures
from ikdav.infomaniak import (
    Drive,
    InfomaniakClient,
    InfomaniakError,
    Mailbox,
    NoAccess,
    ReconnectRequired,
    ScopeMissing,
    StaticTokenProvider,
    TokenSet,
    Unauthorized,
    UpstreamUnavailable,
)
from ikdav.infomaniak.models import Profile
from ikdav.services import Services

log = logging.getLogger("ikdav.connect")


@dataclass(frozen=True)
class Reach:
    """What a token reaches: its drives and mailboxes, or why a list could not be read."""

    drives: tuple[Drive, ...] = ()
    mailboxes: tuple[Mailbox, ...] = ()
    kdrive_error: InfomaniakError | None = field(default=None, repr=False)
    mail_error: InfomaniakError | None = field(default=None, repr=False)

    @property
    def empty(self) -> bool:
        return not self.drives and not self.mailboxes

    @property
    def kdrive_problem(self) -> str:
        return self.kdrive_error.user_message if self.kdrive_error else ""

    @property
    def mail_problem(self) -> str:
        return self.mail_error.user_message if self.mail_error else ""

    @property
    def outage(self) -> InfomaniakError | None:
        """The first error that says Infomaniak was unreachable (not "no access")."""
        for error in (self.kdrive_error, self.mail_error):
            if isinstance(error, UpstreamUnavailable):
                return error
        return None


def reach_of(client: InfomaniakClient) -> Reach:
    """Ask for the drive list and the mailboxes; a refusal or outage is recorded, not raised.

    A dead token (:class:`Unauthorized`) is recorded too: the caller decides what it means.
    """
    drives: list[Drive] = []
    mailboxes: list[Mailbox] = []
    kdrive_error: InfomaniakError | None = None
    mail_error: InfomaniakError | None = None
    try:
        drives = client.kdrive.drives()
    except InfomaniakError as exc:
        kdrive_error = exc
    try:
        mailboxes = client.mail.mailboxes()
    except InfomaniakError as exc:
        mail_error = exc
    return Reach(tuple(drives), tuple(mailboxes), kdrive_error, mail_error)


@dataclass(frozen=True)
class TokenOwner:
    """Whose token it is (from the profile, or the e-mail given for a token without one)."""

    email: str
    user_id: int | None
    display_name: str
    scopes: str
    reach: Reach


def _client(services: Services, token: str) -> InfomaniakClient:
    return InfomaniakClient(services.endpoints, StaticTokenProvider(token), services.client_settings)


def _checked_reach(services: Services, client: InfomaniakClient, email: str) -> Reach:
    """The reach of a token about to be stored: refuse empty, unreachable or not-allowed ones."""
    if not services.config.allows_user(email):
        raise failures.not_allowed(email)
    reach = reach_of(client)
    if reach.empty:
        if reach.outage is not None:
            raise failures.upstream(reach.outage)
        raise failures.nothing_reachable(email)
    return reach


def _profile_email(profile: Profile) -> str:
    return (profile.email or profile.login or "").strip()


def owner_of_oauth_token(services: Services, token_set: TokenSet) -> TokenOwner:
    """The profile and reach of a freshly granted OAuth token; it needs ``user_info``.

    Raises a :class:`~ikdav.connect.failures.Failure` like :func:`owner_of_personal_token`; the
    caller SHOULD then revoke the grant, since it will not be kept.
    """
    redirect_uri = services.config.infomaniak.redirect_uri
    with _client(services, token_set.access_token) as client:
        try:
            profile = client.profile()
        except ScopeMissing as exc:
            raise failures.user_info_missing() from exc
        except InfomaniakError as exc:
            raise failures.from_error(exc, redirect_uri) from exc
        email = _profile_email(profile)
        if not email:
            raise failures.user_info_missing()
        reach = _checked_reach(services, client, email)
    return TokenOwner(email, profile.id or token_set.user_id, profile.display_name or email,
                      token_set.scope or services.config.infomaniak.scopes, reach)


def owner_of_personal_token(services: Services, token: str, email: str = "") -> TokenOwner:
    """Check a personal API token: the profile if granted, else the drive list and mailboxes.

    ``email`` is needed only when the token has no ``user_info`` scope; when the profile is
    readable it names the account, and a different ``email`` is refused. Raises a
    :class:`~ikdav.connect.failures.Failure` for a refused token, a missing e-mail, an e-mail
    outside ``allowed_users``, or a token that reaches neither kDrive nor Mail. Callers MUST NOT
    store a token this refused.
    """
    token = token.strip()
    email = email.strip()
    if not token or any(c.isspace() for c in token):
        raise failures.token_refused()
    if email and "@" not in email:
        raise failures.Failure(400, "This is not an e-mail address", f"{email!r} has no @.",
                               "Enter the e-mail address of the Infomaniak account.", code="bad_email")
    with _client(services, token) as client:
        profile: Profile | None = None
        try:
            profile = client.profile()
        except ScopeMissing:
            profile = None
        except (ReconnectRequired, Unauthorized) as exc:
            raise failures.token_refused() from exc
        except InfomaniakError as exc:
            raise failures.from_error(exc, services.config.infomaniak.redirect_uri) from exc
        if profile is not None:
            found = _profile_email(profile)
            if email and found and found.lower() != email.lower():
                raise failures.Failure(
                    400, "The token belongs to another account",
                    f"This token is {found}'s, not {email}'s.",
                    "Leave the e-mail empty, or use a token of that account.", code="other_user")
            email = found or email
        if not email:
            raise failures.no_email()
        reach = _checked_reach(services, client, email)
    scopes = []
    if profile is not None:
        scopes.append("user_info")
    if not isinstance(reach.kdrive_error, NoAccess):
        scopes.append("kdrive")
    if not isinstance(reach.mail_error, NoAccess):
        scopes.append("mail")
    return TokenOwner(email, profile.id if profile else None,
                      (profile.display_name if profile else None) or email, " ".join(scopes), reach)


def _existing(services: Services, owner: TokenOwner) -> Account | None:
    if owner.user_id is not None:
        for account in services.store.list():
            if account.infomaniak_user_id == owner.user_id:
                return account
    return services.store.by_email(owner.email)


def save_connection(services: Services, owner: TokenOwner, *, auth_kind: str, access_token: str,
                    refresh_token: str | None = None, expires_at: float | None = None) -> Account:
    """Store the account (new, or the same person connecting again) and drop what was cached.

    ``owner`` MUST come from :func:`owner_of_oauth_token` or :func:`owner_of_personal_token` for
    this very token. When an OAuth account connects again, its previous grant is revoked at
    Infomaniak (best effort): one live authorisation per account. App passwords are kept.
    """
    previous = _existing(services, owner)
    old_token: str | None = None
    if previous is not None and previous.auth_kind == KIND_OAUTH and services.oauth is not None:
        try:
            old_token = services.store.read_tokens(previous.id).access_token
        except (SecretKeyError, StoreError):
            old_token = None
    user_id = owner.user_id
    if user_id is None and previous is not None:
        user_id = previous.infomaniak_user_id  # a token without user_info keeps the known id
    account = services.store.save_account(
        email=owner.email, infomaniak_user_id=user_id, display_name=owner.display_name,
        auth_kind=auth_kind, scopes=owner.scopes, access_token=access_token,
        refresh_token=refresh_token, expires_at=expires_at)
    services.forget_account(account.id)
    if old_token and old_token != access_token and services.oauth is not None:
        try:
            services.oauth.revoke(old_token)
        except InfomaniakError as exc:
            log.info("could not revoke the previous grant of %s (%s)", account.email, type(exc).__name__)
    log.info("connected account %s (%s)", account.email, auth_kind)
    return account


@dataclass(frozen=True)
class Disconnected:
    """The outcome of a disconnect: whether it was removed, and what could not be revoked."""

    removed: bool
    revoke_problem: str = ""  # the grant may still be alive at Infomaniak
    note: str = ""  # something the person should know (a personal token stays valid)


def revoke_at_infomaniak(services: Services, account: Account) -> Disconnected:
    """Revoke an OAuth account's grant (with a fresh access token, so an expired one does not
    leave the refresh token alive). A personal token cannot be revoked from here."""
    if account.auth_kind != KIND_OAUTH:
        return Disconnected(False, note="The personal API token stays valid at Infomaniak: delete it in "
                                        "the Infomaniak Manager if you no longer use it.")
    if services.oauth is None:
        return Disconnected(False, revoke_problem="No OAuth application is configured, so ikdav could "
                                                  "not revoke the authorisation at Infomaniak.")
    try:
        token = services.token_provider(account.id)()
    except ReconnectRequired:
        return Disconnected(False)  # the grant is already dead (or the tokens were cleared)
    except InfomaniakError as exc:
        return Disconnected(False, revoke_problem=exc.user_message)
    except (SecretKeyError, StoreError) as exc:
        return Disconnected(False, revoke_problem=str(exc))
    try:
        services.oauth.revoke(token)
    except InfomaniakError as exc:
        return Disconnected(False, revoke_problem=exc.user_message)
    return Disconnected(False)


def disconnect(services: Services, account: Account, *, remove: bool) -> Disconnected:
    """Revoke at Infomaniak (failures reported, not fatal), then delete the local tokens.

    ``remove`` deletes the account with its app passwords; otherwise only the tokens go and
    the account waits, "reconnect needed", for a new connection.
    """
    revoked = revoke_at_infomaniak(services, account)
    if remove:
        services.store.remove(account.id)
    else:
        services.store.clear_tokens(account.id)
    services.forget_account(account.id)
    log.info("%s account %s%s", "removed" if remove else "disconnected", account.email,
             " (not revoked at Infomaniak)" if revoked.revoke_problem else "")
    return Disconnected(remove, revoked.revoke_problem, revoked.note)
