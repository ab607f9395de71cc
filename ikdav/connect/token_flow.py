"""Connecting with a personal API token pasted into a form (for OAuth apps without product scopes).

The token is checked against Infomaniak before anything is stored: the profile when the token
has ``user_info``, otherwise the e-mail typed next to it; then the drive list and the mailboxes.
"""

from __future__ import annotations

from ikdav.accounts.store import KIND_TOKEN
from ikdav.connect import failures, linking
from ikdav.connect.context import ConnectContext
from ikdav.connect.flash import Flash
from ikdav.connect.web import Request, Response, redirect


class TokenFlow:
    def __init__(self, ctx: ConnectContext) -> None:
        self.ctx = ctx
        self.services = ctx.services

    def connect(self, request: Request) -> Response:
        """POST from the home page: check, store, then the success page with a new app password."""
        self.ctx.require_anonymous_csrf(request)
        token = request.field("token")
        owner = linking.owner_of_personal_token(self.services, token, request.field("email"))
        account = linking.save_connection(self.services, owner, auth_kind=KIND_TOKEN, access_token=token)
        return self.ctx.welcome(request, account, owner.reach, "personal token")

    def replace(self, request: Request) -> Response:
        """POST from the account page: a new personal token for the signed-in account."""
        signed_in = self.ctx.require_session(request)
        account = signed_in.account
        token = request.field("token")
        owner = linking.owner_of_personal_token(self.services, token, account.email)
        same = (owner.user_id == account.infomaniak_user_id if owner.user_id and account.infomaniak_user_id
                else owner.email.lower() == account.email.lower())
        if not same:
            raise failures.other_user(account.email, owner.email)
        linking.save_connection(self.services, owner, auth_kind=KIND_TOKEN, access_token=token)
        notice = "The new personal token is saved; your app passwords keep working."
        self.ctx.flashes.put(signed_in.session_id, Flash(notice=notice))
        return redirect(request.url_for("/account"))
