"""A mixed WebDAV workload for soak runs: many clients, each in its own folder, checking as it goes.

Every client keeps what it believes its folder holds (file name → content). A PUT, MOVE or DELETE
that the server acknowledged changes that belief; one that failed leaves the old state as a valid
outcome too (nothing may be lost, but an upload whose reply was lost may still have landed). At
the end, :func:`verify` compares every folder with what the emulator really stores, byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

import requests

UPSTREAM_CAUSED = {502, 503, 504}  # the share's answers to upstream faults, rate limits, timeouts


@dataclass
class Figures:
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    problems: list[str] = field(default_factory=list)

    def record(self, method: str, status: int | str, seconds: float) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[f"{method} {status}"] += 1
            self.latencies.append(seconds)

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0

    def unexpected_5xx(self) -> int:
        return sum(count for key, count in self.statuses.items()
                   if key.split()[1].isdigit() and int(key.split()[1]) >= 500
                   and int(key.split()[1]) not in UPSTREAM_CAUSED)


@dataclass
class Client:
    """One simulated user working in ``<base>/c<number>/``."""

    number: int
    base_url: str
    folder: str
    auth: tuple[str, str]
    figures: Figures
    sizes: tuple[int, ...]
    rng: random.Random
    known: dict[str, set[bytes]] = field(default_factory=dict)  # name -> acceptable digests
    session: requests.Session = field(default_factory=requests.Session)

    def url(self, name: str = "") -> str:
        return self.base_url + quote(f"{self.folder}/c{self.number}/{name}")

    def call(self, method: str, name: str = "", **kwargs: object) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = self.session.request(method, self.url(name), auth=self.auth, timeout=120, **kwargs)
        except requests.RequestException as exc:
            self.figures.record(method, type(exc).__name__, time.perf_counter() - started)
            if os.environ.get("SOAK_DEBUG"):  # print each failed connection, to find its cause
                print("connection failed:", method, name, repr(exc)[:200], flush=True)
            return None
        self.figures.record(method, response.status_code, time.perf_counter() - started)
        if response.status_code == 500:
            self.figures.problem(f"{method} {name}: 500 {response.text[:200]}")
        return response

    def setup(self) -> None:
        """Create the shared base folder (whoever comes first) and this client's own folder."""
        base = self.base_url + quote(f"{self.folder}/")
        for url in (base, self.url()):
            for _ in range(60):  # a tight upstream rate limit may refuse the first tries
                try:
                    response = self.session.request("MKCOL", url, auth=self.auth, timeout=60)
                except requests.RequestException:
                    response = None
                if response is not None and response.status_code in (201, 405):
                    break
                time.sleep(0.5)

    def step(self) -> None:
        action = self.rng.choices(["put", "get", "propfind", "move", "delete"], [4, 4, 3, 1, 1])[0]
        names = sorted(self.known)
        if action == "put" or not names:
            self.put(f"f{self.rng.randrange(40)}.bin")
        elif action == "get":
            self.get(self.rng.choice(names))
        elif action == "propfind":
            self.call("PROPFIND", headers={"Depth": "1"})
        elif action == "move":
            self.move(self.rng.choice(names), f"f{self.rng.randrange(40)}.bin")
        else:
            self.delete(self.rng.choice(names))

    def put(self, name: str) -> None:
        data = os.urandom(self.rng.choice(self.sizes))
        digest = hashlib.sha256(data).digest()
        response = self.call("PUT", name, data=data)
        if response is not None and response.status_code in (200, 201, 204):
            self.known[name] = {digest}
        else:
            self.known.setdefault(name, {b"absent"}).add(digest)

    def get(self, name: str) -> None:
        response = self.call("GET", name)
        if response is None or response.status_code != 200:
            return
        if hashlib.sha256(response.content).digest() not in self.known.get(name, set()):
            self.figures.problem(f"GET {name} returned content that was never written there")

    def move(self, name: str, target: str) -> None:
        if name == target:
            return
        response = self.call("MOVE", name, headers={"Destination": self.url(target), "Overwrite": "T"})
        if response is not None and response.status_code in (201, 204):
            self.known[target] = self.known.pop(name)
        else:
            moved = self.known.get(name, set())
            self.known.setdefault(target, {b"absent"}).update(moved)
            self.known[name] = moved | {b"absent"}

    def delete(self, name: str) -> None:
        response = self.call("DELETE", name)
        if response is not None and response.status_code in (200, 204, 404):
            self.known.pop(name, None)
        else:
            self.known[name] = self.known.get(name, set()) | {b"absent"}


def run(base_url: str, folder: str, auth: tuple[str, str], *, clients: int, seconds: float,
        sizes: tuple[int, ...], seed: int = 7) -> tuple[Figures, list[Client]]:
    figures = Figures()
    workers = [Client(n, base_url, folder, auth, figures, sizes, random.Random(seed + n))
               for n in range(clients)]
    deadline = time.monotonic() + seconds

    def work(client: Client) -> None:
        client.setup()
        while time.monotonic() < deadline:
            client.step()

    threads = [threading.Thread(target=work, args=(client,), daemon=True) for client in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 600)
    return figures, workers


def verify(workers: list[Client], read: object) -> list[str]:
    """Compare each client's belief with the emulator; ``read(client_number)`` gives name → bytes."""
    lost: list[str] = []
    for client in workers:
        stored = read(client.number)  # type: ignore[operator]
        for name, acceptable in client.known.items():
            data = stored.get(name)
            digest = b"absent" if data is None else hashlib.sha256(data).digest()
            if digest not in acceptable:
                lost.append(f"c{client.number}/{name}: the stored state is not one the client could expect")
        for name in stored:
            if name not in client.known:
                lost.append(f"c{client.number}/{name}: a file nobody wrote")
    return lost
