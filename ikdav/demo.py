"""``ikdav demo``: the emulator and ikdav in one process, with Jane's account already connected.

Everything runs on loopback (or the address given), against sample data; nothing to set up.
The lines printed once the server listens are ``Key: value`` pairs so scripts can read them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ikdav.config import CALLBACK_PATH, load_config
from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, JANE, JANE_PAT, PAT_SCOPES
from ikdav.server import serve
from ikdav.services import build_services

DEMO_PASSWORD_LABEL = "demo"


def run_demo(*, host: str = "127.0.0.1", port: int = 8000, password: str | None = None,
             data_dir: str = "demo-data", emulator_port: int | None = None) -> int:
    # The emulator stays on loopback: only this process (and a local browser) talks to it.
    emulator = Emulator(host="127.0.0.1", port=emulator_port or 0)
    emulator.start()
    listening = load_config(None, env={}).with_overrides({"server.host": host, "server.port": port})
    redirect_uri = listening.public_url + CALLBACK_PATH
    emulator.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, [redirect_uri])
    config = listening.with_overrides({
        "data_dir": str(Path(data_dir)),
        "infomaniak.login_url": emulator.login_url, "infomaniak.api_url": emulator.api_url,
        "infomaniak.mail_url": emulator.mail_url, "infomaniak.client_id": DEMO_CLIENT_ID,
        "infomaniak.client_secret": DEMO_CLIENT_SECRET, "infomaniak.redirect_uri": redirect_uri,
    })
    services = build_services(config, env={})
    account = services.store.save_account(
        email=JANE.email, infomaniak_user_id=JANE.id, display_name=JANE.display_name, auth_kind="token",
        scopes=PAT_SCOPES, access_token=JANE_PAT, refresh_token=None, expires_at=None)
    for old in services.store.app_passwords(account.id):
        if old.label == DEMO_PASSWORD_LABEL:
            services.store.revoke_app_password(account.id, old.id)
    _, plain = services.store.create_app_password(account.id, DEMO_PASSWORD_LABEL, password)

    def announce(listening: str) -> None:
        lines = {
            "Connect page": config.public_url + "/",
            "WebDAV URL": config.share_url,
            "User": JANE.email,
            "Password": plain,
            "Emulator API URL": emulator.api_url,
            "Emulator knobs": emulator.api_url + "/_emulator/knobs",
        }
        for key, value in lines.items():
            print(f"{key}: {value}", flush=True)
        print("Press Ctrl-C to stop.", file=sys.stderr, flush=True)

    try:
        return serve(config, services, announce)
    finally:
        emulator.close()
