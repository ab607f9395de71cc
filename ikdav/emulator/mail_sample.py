"""Sample mailboxes and messages for the emulated mail host, deterministic from ``sample.seed``.

Jane has her primary mailbox jane@example.ch and the shared support@doe-consulting.ch; Marc has
marc@example.ch. Every mailbox has the standard folders (INBOX, Sent, Drafts, Trash, Spam,
Archive), the host's ``.ik`` folders and a nested INBOX/Projects/2026. Each primary mailbox gets
about ``sample.mail_messages`` real RFC 822 messages built with the stdlib ``email`` package,
including the awkward cases a bridge must survive: encoded-word and emoji subjects, an empty and
a missing subject, a very long one, slashes, colons and quotes, a long ``Re: Re:`` thread,
attachments, HTML alternatives, no ``Date`` header, and a message whose internal date is older
than that of messages delivered before it.

Messages are built with the ``email.mime`` classes (fast; about 0.2 ms each) and explicit MIME
boundaries drawn from the seeded generator, so the same seed gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email import encoders
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from typing import Any, NamedTuple

from ikdav.emulator.mail_ids import MAIL_ZONE
from ikdav.emulator.mail_model import Mailbox
from ikdav.emulator.mail_store import MailStore
from ikdav.emulator.sample_data import JANE, JANE_ID, MARC, MARC_ID

ANCHOR = datetime(2026, 11, 27, 9, 30, tzinfo=MAIL_ZONE)  # the sample's "now", fixed for determinism
SPREAD_DAYS = 240
NEW_YORK = timezone(timedelta(hours=-5))

UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP  # readable bodies instead of base64


class Contact(NamedTuple):
    name: str
    email: str

    @property
    def domain(self) -> str:
        return self.email.partition("@")[2]

    def header(self) -> str:
        return formataddr((self.name, self.email), charset="utf-8")


CONTACTS = [
    Contact("Zoë Müller", "zoe.mueller@example.de"),
    Contact("Luca Bianchi", "luca@bianchi.example.it"),
    Contact("Amélie Dubois", "amelie.dubois@example.fr"),
    Contact("Kenji Sato", "kenji@example.jp"),
    Contact("Accounting", "accounting@doe-consulting.ch"),
    Contact("Newsletter", "news@shop.example.com"),
    Contact("", "noreply@example.org"),
]

SUBJECTS = [
    "Quarterly report", "Lunch on Thursday?", "Invoice 2026-{n:03d}", "Meeting notes {n}",
    "Your order has shipped", "Photos from the weekend", "Contract draft v{n}", "Reminder: dentist",
    "Weekly digest #{n}", "Question about the offer", "Travel plans", "Server maintenance window",
]

AWKWARD_SUBJECTS: list[str | None] = [
    "Réunion d'équipe – planification Q3",
    "Grüezi aus Zürich: Öffnungszeiten für Frühling",
    "日本語の件名テスト",
    "🎉 Party on Friday 🍕🥳",
    "",
    None,
    "A very long subject line that keeps going " + "and going " * 25 + "until it ends.",
    'Invoice 2026/03: "final" version',
    'Path C:\\Users\\jane\\report?.docx | <draft> *urgent*',
    "  spaces around and a trailing dot.  ",
    "Dots ... and a tab\tinside",
]

PARAGRAPHS = [
    "Thanks for your message, I will get back to you shortly.",
    "Please find the document attached. Let me know if anything is missing.",
    "Could we move the call to next week? Tuesday afternoon would suit me best.",
    "Here is the summary of what we agreed on during the meeting.",
    "Merci pour votre retour, je regarde cela demain matin.",
    "Vielen Dank! Die Unterlagen sind angekommen.",
    "The numbers look good this quarter; details are in the spreadsheet.",
    "Don't forget to bring the keys 🔑 tomorrow.",
]

PRIMARY_FOLDER_WEIGHTS = [
    ("INBOX", 55), ("Archive", 12), ("Sent", 12), ("INBOX/Projects", 6), ("INBOX/Projects/2026", 5),
    ("Trash", 4), ("Spam", 3), ("Drafts", 3),
]

Attachment = tuple[bytes, str, str, str]  # data, maintype, subtype, file name


@dataclass
class Pending:
    """A message waiting for delivery, so that each folder is filled in date order."""

    folder: str
    message: Message
    internal_date: datetime
    seen: bool = True
    flagged: bool = False
    answered: bool = False


def seed_mail(store: MailStore, sample: Any) -> None:
    """Create the sample mailboxes, folders and messages (well under a second)."""
    count = max(0, int(getattr(sample, "mail_messages", 300)))
    rng = random.Random(int(getattr(sample, "seed", 0)))
    jane = store.add_mailbox(JANE.email, {JANE_ID}, is_primary=True, aliases=["j.doe@example.ch"])
    support = store.add_mailbox("support@doe-consulting.ch", {JANE_ID}, aliases=["help@doe-consulting.ch"])
    marc = store.add_mailbox(MARC.email, {MARC_ID}, is_primary=True)
    for mailbox in (jane, support, marc):
        store.create_folder(mailbox, "INBOX/Projects/2026", parents=True)
    store.folder(jane, "INBOX/Projects").is_favorite = True
    store.create_folder(support, "INBOX/Customers")
    fill_mailbox(store, jane, Contact(JANE.display_name, jane.email), count, rng)
    fill_mailbox(store, marc, Contact(MARC.display_name, marc.email), count, rng)
    fill_mailbox(store, support, Contact("Doe Consulting Support", support.email), max(4, count // 10), rng,
                 awkward=False)
    bulk = int(getattr(sample, "big_mail_folder", 0) or 0)
    if bulk > 0:
        store.bulk_add(jane, "Archive/Bulk", bulk)


def fill_mailbox(store: MailStore, mailbox: Mailbox, owner: Contact, count: int, rng: random.Random,
                 *, awkward: bool = True) -> None:
    pending: list[Pending] = []
    if awkward:
        pending += awkward_messages(owner, rng)
        pending += reply_thread(owner, rng, "Budget 2027", length=8)
    folders = [name for name, _ in PRIMARY_FOLDER_WEIGHTS]
    weights = [weight for _, weight in PRIMARY_FOLDER_WEIGHTS]
    index = 0
    while len(pending) < count:
        # The first few cover every folder, so each one has something to list and delete.
        folder = folders[index] if index < len(folders) else rng.choices(folders, weights)[0]
        pending.append(ordinary_message(mailbox, owner, rng, folder, index))
        index += 1
    imported = pending.pop(0) if awkward else None  # delivered last, with an old internal date
    for item in sorted(pending, key=lambda p: p.internal_date):
        deliver(store, mailbox, item)
    if imported is not None:
        deliver(store, mailbox, imported)


def deliver(store: MailStore, mailbox: Mailbox, pending: Pending) -> None:
    store.add_message(mailbox, pending.folder, pending.message, internal_date=pending.internal_date,
                      seen=pending.seen, flagged=pending.flagged, answered=pending.answered)


def random_moment(rng: random.Random) -> datetime:
    return ANCHOR - timedelta(seconds=rng.uniform(3600, SPREAD_DAYS * 86400))


def build_message(rng: random.Random, *, sender: Contact, to: list[Contact], subject: str | None,
                  date: datetime | None, body: str, msg_id: str, html: str | None = None,
                  cc: list[Contact] | None = None, attachments: list[Attachment] | None = None,
                  headers: dict[str, str] | None = None) -> Message:
    """A plain, alternative or mixed message; headers with non-ASCII text become encoded words."""
    content: Message = MIMEText(body, "plain", UTF8_QP)
    if html is not None:
        content = MIMEMultipart("alternative", boundary=boundary(rng),
                                _subparts=[content, MIMEText(html, "html", UTF8_QP)])
    if attachments:
        content = MIMEMultipart("mixed", boundary=boundary(rng),
                                _subparts=[content, *(attachment_part(*a) for a in attachments)])
    content["From"] = sender.header()
    content["To"] = ", ".join(contact.header() for contact in to)
    if cc:
        content["Cc"] = ", ".join(contact.header() for contact in cc)
    if subject is not None:
        content["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
    if date is not None:
        content["Date"] = format_datetime(date)
    content["Message-ID"] = msg_id
    for name, value in (headers or {}).items():
        content[name] = value
    return content


def boundary(rng: random.Random) -> str:
    return f"=_ikdav_{rng.getrandbits(64):016x}"


def attachment_part(data: bytes, maintype: str, subtype: str, filename: str) -> Message:
    part = MIMEBase(maintype, subtype)
    part.set_payload(data)
    encoders.encode_base64(part)
    name: str | tuple[str, str, str] = filename if filename.isascii() else ("utf-8", "", filename)
    part.add_header("Content-Disposition", "attachment", filename=name)
    return part


def pdf_bytes(rng: random.Random, size: int) -> bytes:
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + rng.randbytes(size) + b"\n%%EOF\n"


def png_bytes(rng: random.Random, size: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(size) + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def ordinary_message(mailbox: Mailbox, owner: Contact, rng: random.Random, folder: str,
                     index: int) -> Pending:
    moment = random_moment(rng)
    contact = rng.choice(CONTACTS)
    sent = folder in ("Sent", "Drafts")
    sender, recipient = (owner, contact) if sent else (contact, owner)
    subject = rng.choice(SUBJECTS).format(n=index + 1)
    body = "\n\n".join(rng.sample(PARAGRAPHS, rng.randint(1, 3))) + f"\n\n-- \n{sender.name}\n"
    kind = index % 6
    html: str | None = None
    attachments: list[Attachment] | None = None
    if kind == 1:
        html = f"<html><body><p>{body.replace(chr(10), '<br>')}</p></body></html>"
    elif kind == 3:
        attachments = [(pdf_bytes(rng, rng.randint(400, 3000)), "application", "pdf", f"{subject}.pdf")]
    elif kind == 5:
        attachments = [(png_bytes(rng, rng.randint(200, 1500)), "image", "png", "photo.png")]
    header_date = moment.astimezone(NEW_YORK) if index % 7 == 4 else moment
    message = build_message(rng, sender=sender, to=[recipient], subject=subject, date=header_date, body=body,
                            msg_id=f"<msg-{index}-{mailbox.mailbox_id}@{sender.domain}>",
                            html=html, attachments=attachments)
    fresh = ANCHOR - moment < timedelta(days=10)
    return Pending(folder, message, moment + timedelta(seconds=rng.randint(2, 90)),
                   seen=sent or not (fresh or rng.random() < 0.1), flagged=rng.random() < 0.08,
                   answered=not sent and rng.random() < 0.15)


def awkward_messages(owner: Contact, rng: random.Random) -> list[Pending]:
    """The import from an old machine first (see :func:`fill_mailbox`), then the odd subjects."""
    old = ANCHOR - timedelta(days=SPREAD_DAYS + 30)
    pending = [Pending("INBOX", build_message(
        rng, sender=CONTACTS[2], to=[owner], subject="Imported from the old laptop", date=old,
        body="This message was copied in from an old mail client.\n", msg_id=f"<imported@{owner.domain}>"),
        internal_date=old)]
    for number, subject in enumerate(AWKWARD_SUBJECTS):
        moment = random_moment(rng)
        contact = CONTACTS[number % len(CONTACTS)]
        headers: dict[str, str] = {}
        attachments: list[Attachment] | None = None
        if number == 0:
            headers["X-Priority"] = "1 (Highest)"
        elif number == 3:
            headers["X-Priority"] = "5 (Lowest)"
        elif number == 7:
            headers["DKIM-Signature"] = f"v=1; a=rsa-sha256; d={contact.domain}; s=mail; b=ZmFrZQ=="
            attachments = [(pdf_bytes(rng, 2048), "application", "pdf", 'Invoice 2026-03 "final".pdf'),
                           (png_bytes(rng, 512), "image", "png", "stämpel 🖼.png")]
        message = build_message(
            rng, sender=contact, to=[owner],
            cc=[CONTACTS[(number + 1) % len(CONTACTS)]] if number % 2 else None,
            subject=subject, date=None if number == 9 else moment,
            body=f"{PARAGRAPHS[number % len(PARAGRAPHS)]}\n\nÄ, é, ß, 😀 — unicode in the body too.\n",
            html="<p>Hello <b>there</b> &amp; welcome 👋</p>" if number % 3 == 0 else None,
            msg_id=f"<awkward-{number}@{owner.domain}>", attachments=attachments, headers=headers)
        pending.append(Pending("INBOX", message, moment + timedelta(seconds=30),
                               seen=number % 2 == 0, flagged=number == 1))
    return pending


def reply_thread(owner: Contact, rng: random.Random, topic: str, length: int) -> list[Pending]:
    """A back-and-forth where every reply adds one more ``Re:``; the owner's replies land in Sent."""
    partner = CONTACTS[0]
    moment = ANCHOR - timedelta(days=rng.randint(20, 60))
    references: list[str] = []
    pending: list[Pending] = []
    for step in range(length):
        from_owner = step % 2 == 1
        sender, recipient = (owner, partner) if from_owner else (partner, owner)
        msg_id = f"<thread-{step}-{rng.getrandbits(32):08x}@{owner.domain}>"
        headers = {}
        if references:
            headers["In-Reply-To"] = references[-1]
            headers["References"] = " ".join(references)
        message = build_message(
            rng, sender=sender, to=[recipient], subject="Re: " * step + topic, date=moment,
            body=f"{PARAGRAPHS[step % len(PARAGRAPHS)]}\n\n> earlier message quoted here\n",
            msg_id=msg_id, headers=headers)
        pending.append(Pending("Sent" if from_owner else "INBOX", message, moment + timedelta(seconds=5),
                               seen=step < length - 1, answered=not from_owner and step < length - 1))
        references.append(msg_id)
        moment += timedelta(hours=rng.randint(1, 30))
    return pending
