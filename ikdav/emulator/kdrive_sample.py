"""Sample kDrive data: three drives that look lived-in, with the names that trip clients up.

Jane (112233) has "My kDrive" (140946, a team drive with Private, Common documents and Shared)
and "Famille Doe" (140947, Private only). Marc (445566) has "Marc's kDrive" (150001). Content is
deterministic from ``sample.seed``; seeding 2000 files takes well under a second.
"""

from __future__ import annotations

import random
from typing import Any

from ikdav.emulator.kdrive_store import KDriveStore
from ikdav.emulator.sample_data import JANE_ID, MARC_ID

JANE_DRIVE = 140946
FAMILY_DRIVE = 140947
MARC_DRIVE = 150001

KIB = 1024
MIB = 1024 * 1024
PAST = 1_700_000_000  # 2023-11-14: sample times lie between this and about a year later

LONG_NAME = ("A very long file name that keeps going to see how clients cope with names close to "
             "the limit of two hundred and fifty five bytes — façade, naïve, Zürich, déjà vu, "
             "and a few more words to pass two hundred.txt")  # 214 UTF-8 bytes

MAGIC: dict[str, bytes] = {
    "pdf": b"%PDF-1.7\n", "png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "zip": b"PK\x03\x04", "docx": b"PK\x03\x04", "xlsx": b"PK\x03\x04", "pptx": b"PK\x03\x04",
    "mp3": b"ID3\x04\x00\x00", "mp4": b"\x00\x00\x00\x18ftypmp42",
}
TEXT_EXTENSIONS = {"txt", "md", "csv", "json", "py"}
WORDS = ("kDrive emulator sample content lorem ipsum dolor sit amet consectetur adipiscing elit "
         "sed do eiusmod tempor incididunt ut labore et dolore magna aliqua Zürich Genève "
         "Lausanne façade naïve déjà").split()

# (path, size in bytes) per drive; folders come with their files.
JANE_FILES: list[tuple[str, int]] = [
    ("/Private/Documents/Taxes/2025/tax-return-2025.pdf", 180 * KIB),
    ("/Private/Documents/Taxes/2025/receipts.zip", 1 * MIB + 300 * KIB),
    ("/Private/Documents/Taxes/2024/tax-return-2024.pdf", 150 * KIB),
    ("/Private/Documents/report.pdf", 12_345),
    ("/Private/Documents/notes.txt", 2_000),
    ("/Private/Documents/empty.txt", 0),
    ("/Private/Documents/Résumé – Jane Doe.docx", 48 * KIB),
    ("/Private/Documents/name with  two spaces.txt", 321),
    ("/Private/Documents/#hash & percent%.txt", 77),
    ("/Private/Documents/Ωmega.txt", 500),
    ("/Private/Documents/10:30 meeting notes.md", 900),
    ("/Private/Documents/Über große Dateien.md", 4_000),
    (f"/Private/Documents/{LONG_NAME}", 1_000),
    ("/Private/Photos/Vacances été 2024 🏖/IMG_0001.jpg", 220 * KIB),
    ("/Private/Photos/Vacances été 2024 🏖/IMG_0002.jpg", 240 * KIB),
    ("/Private/Photos/Vacances été 2024 🏖/IMG_0003.jpg", 210 * KIB),
    ("/Private/Photos/family 👪.png", 300 * KIB),
    ("/Private/Music/song.mp3", 2 * MIB),
    ("/Private/todo.txt", 150),
    ("/Private/budget.xlsx", 20 * KIB),
    ("/Common documents/Team handbook/handbook.pdf", 400 * KIB),
    ("/Common documents/Team handbook/onboarding.md", 3_000),
    ("/Common documents/Projects/ikdav/design.md", 9_000),
    ("/Common documents/Projects/ikdav/demo video.mp4", 3 * MIB),
    ("/Common documents/meeting notes 2025-06-03.txt", 1_200),
    ("/Shared/From Marc/recipe.txt", 800),
]
JANE_EMPTY_DIRS = ["/Private/Empty folder", "/Common documents/Archive"]

FAMILY_FILES: list[tuple[str, int]] = [
    ("/Private/Recettes/tarte aux pommes.txt", 1_100),
    ("/Private/Photos/noël 2024.jpg", 150 * KIB),
    ("/Private/Assurances/police-ménage.pdf", 90 * KIB),
]

MARC_FILES: list[tuple[str, int]] = [
    ("/Private/Notes/todo.txt", 200),
    ("/Private/Notes/ideas.md", 1_500),
    ("/Private/Photos/IMG_2001.jpg", 120 * KIB),
    ("/Common documents/Budget 2026.xlsx", 25 * KIB),
]


def sample_content(rng: random.Random, path: str, size: int) -> bytes:
    """Deterministic bytes that look like the file type: words for text, a magic prefix else."""
    ext = path.rpartition(".")[2].lower()
    if size == 0:
        return b""
    if ext in TEXT_EXTENSIONS:
        words: list[str] = []
        length = 0
        while length < size:
            word = rng.choice(WORDS)
            words.append(word)
            length += len(word.encode()) + 1
        text = " ".join(words).encode()
        return (text[: size - 1] + b"\n") if size > 1 else b"\n"
    head = MAGIC.get(ext, b"")[:size]
    return head + rng.randbytes(size - len(head))


def _put_all(store: KDriveStore, drive_id: int, files: list[tuple[str, int]], seed: int,
             owner: int) -> None:
    for path, size in files:
        rng = random.Random(f"{seed}:{drive_id}:{path}")
        modified = PAST + rng.randrange(30_000_000)
        created = modified - rng.randrange(3_000_000)
        store.put_file(drive_id, path, sample_content(rng, path, size), last_modified_at=modified,
                       created_at=created, user_id=owner)


def seed_sample(store: KDriveStore, sample: Any) -> None:
    """Create the three sample drives; ``sample.big_folder_files`` small files in "Big folder"."""
    seed = int(getattr(sample, "seed", 0))
    big = int(getattr(sample, "big_folder_files", 0))
    store.add_drive(JANE_DRIVE, "My kDrive", {JANE_ID: "admin"}, account_id=5001, account_name="Jane",
                    size=1 << 40, created_at=PAST - 86_400 * 200)
    store.add_drive(FAMILY_DRIVE, "Famille Doe", {JANE_ID: "user"}, specials=("Private",),
                    account_id=5002, account_name="Famille Doe", size=100 << 30, color="#E91E63",
                    created_at=PAST - 86_400 * 100)
    store.add_drive(MARC_DRIVE, "Marc's kDrive", {MARC_ID: "admin"},
                    specials=("Private", "Common documents"), account_id=5003,
                    account_name="Marc", size=15 << 30, color="#4CAF50", created_at=PAST)
    _put_all(store, JANE_DRIVE, JANE_FILES, seed, JANE_ID)
    for path in JANE_EMPTY_DIRS:
        store.make_dirs(JANE_DRIVE, path)
    _put_all(store, FAMILY_DRIVE, FAMILY_FILES, seed, JANE_ID)
    _put_all(store, MARC_DRIVE, MARC_FILES, seed, MARC_ID)
    if big > 0:
        store.add_many_files(JANE_DRIVE, "/Private/Big folder", big, 256, name_format="file-{:04d}.txt",
                             seed=seed, last_modified_at=PAST)
