"""Who exists in the emulator: users, the demo OAuth client and personal tokens.

kDrive files and mail messages are seeded by their own modules (``kdrive_sample``,
``mail_sample``); they refer to the user ids defined here.
"""

from __future__ import annotations

from ikdav.emulator.state import EmulatorState, User

JANE_ID = 112233
MARC_ID = 445566

JANE = User(JANE_ID, "jane@example.ch", "Jane", "Doe")
MARC = User(MARC_ID, "marc@example.ch", "Marc", "Rossi")

DEMO_CLIENT_ID = "ikdav-demo"
DEMO_CLIENT_SECRET = "emulator-demo-client-secret"
DEMO_REDIRECT_URIS = [
    "http://localhost:8000/api/infomaniak/auth/connect/callback",
    "http://127.0.0.1:8000/api/infomaniak/auth/connect/callback",
]

# Personal API tokens (PATs), as created in the Infomaniak Manager (scope names of §1.1).
JANE_PAT = "pat-jane-emulator-0000000000000000000000000000"
MARC_PAT = "pat-marc-emulator-0000000000000000000000000000"
PAT_SCOPES = "user_info drive workspace:mail"


def seed_identity(state: EmulatorState) -> None:
    identity = state.identity
    identity.add_user(JANE)
    identity.add_user(MARC)
    identity.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS)
    identity.personal_token(JANE_ID, PAT_SCOPES, token=JANE_PAT)
    identity.personal_token(MARC_ID, PAT_SCOPES, token=MARC_PAT)
