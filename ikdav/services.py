"""The collaborators of a running ikdav, built once from the configuration.

The connect app, the WebDAV share and the command line all work on the same :class:`Services`:
the account store, the per-account sessions (Infomaniak client + caches), the login throttle
and, when an OAuth application is configured, the OAuth client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from ikdav.accounts.crypto import load_cipher
from ikdav.accounts.passwords import VerifiedCache
from ikdav.accounts.store import AccountStore
from ikdav.accounts.tokens import AccountTokenProvider
from ikdav.config import Config
from ikdav.dav.auth import LoginThrottle
from ikdav.dav.cache import CacheSettings
from ikdav.dav.session import AccountSessions
from ikdav.infomaniak import ClientSettings, Endpoints, InfomaniakClient, OAuthClient

log = logging.getLogger("ikdav")

DATABASE_NAME = "ikdav.sqlite3"
PASSWORD_CACHE_TTL = 60.0  # seconds a verified app password is remembered


@dataclass
class Services:
    config: Config
    store: AccountStore
    sessions: AccountSessions
    throttle: LoginThrottle
    verified_cache: VerifiedCache
    endpoints: Endpoints
    client_settings: ClientSettings
    oauth: OAuthClient | None

    def token_provider(self, account_id: int) -> AccountTokenProvider:
        return AccountTokenProvider(
            self.store, account_id, self.oauth,
            reconnect_hint=f"open {self.config.public_url.rstrip('/')}/ and reconnect the account")

    def new_client(self, account_id: int) -> InfomaniakClient:
        return InfomaniakClient(self.endpoints, self.token_provider(account_id), self.client_settings)

    def forget_account(self, account_id: int) -> None:
        """After a removal, reconnection or password change: drop sessions and cached logins."""
        self.sessions.drop(account_id)
        self.verified_cache.clear()

    def close(self) -> None:
        self.sessions.close()
        if self.oauth is not None:
            self.oauth.close()
        self.store.close()


def client_settings(config: Config) -> ClientSettings:
    return ClientSettings(
        timeout=config.infomaniak.timeout, connect_timeout=config.infomaniak.connect_timeout,
        max_retry_wait=config.infomaniak.max_retry_wait,
        rate_limit_per_minute=config.infomaniak.rate_limit_per_minute,
        direct_upload_max=config.upload.direct_max_bytes, chunk_size=config.upload.chunk_size,
        parallel_chunks=config.upload.parallel_chunks)


def build_services(config: Config, env: Mapping[str, str] | None = None) -> Services:
    data = config.data_path
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    store = AccountStore(data / DATABASE_NAME, load_cipher(config.secret_key_path, env))
    endpoints = Endpoints(config.infomaniak.login_url, config.infomaniak.api_url, config.infomaniak.mail_url)
    settings = client_settings(config)
    oauth = None
    if config.oauth_enabled:
        oauth = OAuthClient(endpoints, config.infomaniak.client_id, config.infomaniak.client_secret,
                            config.infomaniak.redirect_uri, config.infomaniak.scopes, settings=settings)
    cache = config.cache

    def make_client(account_id: int) -> InfomaniakClient:  # called once serving, when services exists
        return services.new_client(account_id)

    sessions = AccountSessions(
        make_client,
        CacheSettings(listing_ttl=cache.listing_ttl, item_ttl=cache.item_ttl, quota_ttl=cache.quota_ttl,
                      mail_ttl=cache.mail_ttl, max_entries=cache.max_entries))
    services = Services(
        config=config, store=store, sessions=sessions, throttle=LoginThrottle(),
        verified_cache=VerifiedCache(PASSWORD_CACHE_TTL), endpoints=endpoints, client_settings=settings,
        oauth=oauth)
    return services
