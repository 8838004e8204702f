"""The storefront's tables and its seed data: the same users, products and logs on every start."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from conformance.sandbox.base import Database

__all__ = ["LOGS", "PRODUCTS", "SCHEMA", "USERS", "iso", "seed_data"]

SEED = 2002
PRODUCTS, USERS, LOGS = 257, 263, 311  # primes: no page size divides a list exactly


SCHEMA = """
CREATE TABLE IF NOT EXISTS users (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, username TEXT, email TEXT,
    status TEXT, created_at TEXT);
CREATE TABLE IF NOT EXISTS products (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, name TEXT, description TEXT,
    price REAL, currency TEXT, stock INTEGER);
CREATE TABLE IF NOT EXISTS logs (seq INTEGER PRIMARY KEY, ts INTEGER, level TEXT, message TEXT, user_id TEXT,
    ip TEXT);
CREATE TABLE IF NOT EXISTS orders (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, data TEXT);
CREATE TABLE IF NOT EXISTS payments (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, order_id TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS notifications (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, data TEXT);
"""

FIRST = ["john", "maria", "liu", "amara", "sven", "noor", "diego", "yuki", "fatima", "oleg", "chloe", "ravi"]
LAST = ["doe", "silva", "wei", "okafor", "berg", "haddad", "lopez", "tanaka", "khan", "petrov", "martin", "iyer"]
ADJECTIVES = ["Premium", "Compact", "Deluxe", "Eco", "Smart", "Classic", "Rugged", "Mini", "Pro", "Wireless"]
NOUNS = ["Widget", "Gadget", "Lamp", "Kettle", "Backpack", "Speaker", "Mug", "Charger", "Notebook", "Blender"]
ENDPOINTS = ["/products", "/users", "/orders", "/payments", "/logs", "/notifications/send"]


def _id(rng: random.Random, prefix: str, taken: set[str]) -> str:
    while True:
        value = prefix + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=6))
        if value not in taken:
            taken.add(value)
            return value


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_data(db: Database) -> None:
    """Fills an empty database with the same data every time (seeded random)."""
    rng = random.Random(SEED)
    taken = {"prod_xyz789", "prod_abc123", "usr_123abc"}
    with db.transaction() as conn:
        products = [
            ("prod_xyz789", "Premium Widget", "A high-quality widget for all your needs.", 49.99, "USD", 150),
            ("prod_abc123", "Compact Gadget", "A small gadget that fits every pocket.", 19.99, "USD", 80),
        ]
        while len(products) < PRODUCTS:
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {len(products)}"
            price = round(rng.uniform(2, 500), 2)
            products.append((_id(rng, "prod_", taken), name, f"The {name.lower()}.", price, "USD", rng.randint(0, 500)))
        conn.executemany(
            "INSERT INTO products (id, name, description, price, currency, stock) VALUES (?,?,?,?,?,?)", products
        )
        users = [("usr_123abc", "johndoe", "john.doe@example.com", "active", "2023-01-15T10:30:00Z")]
        start = datetime(2022, 1, 1, tzinfo=UTC)
        while len(users) < USERS:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            created = start + timedelta(seconds=rng.randint(0, 600 * 86400))
            users.append(
                (
                    _id(rng, "usr_", taken),
                    f"{first}{last}{len(users)}",
                    f"{first}.{last}{len(users)}@example.com",
                    "active" if rng.random() < 0.75 else "inactive",
                    iso(created),
                )
            )
        conn.executemany("INSERT INTO users (id, username, email, status, created_at) VALUES (?,?,?,?,?)", users)
        moment = int(datetime(2023, 10, 1, tzinfo=UTC).timestamp())
        logs: list[tuple[int, str, str, str | None, str]] = []
        for _ in range(LOGS):
            moment += rng.randint(60, 4 * 3600)  # strictly increasing: no two entries are alike
            user_id: str | None
            user_id, username = rng.choice(users)[:2]
            level = rng.choices(["info", "warn", "error"], weights=[7, 2, 1])[0]
            endpoint = rng.choice(ENDPOINTS)
            message = {
                "info": f"User '{username}' accessed {endpoint} endpoint.",
                "warn": f"User '{username}' sent an invalid parameter to {endpoint}.",
                "error": f"Request from user '{username}' to {endpoint} failed.",
            }[level]
            if rng.random() < 0.1:
                user_id, message = None, f"Anonymous request to {endpoint} was refused."
            logs.append((moment, level, message, user_id, f"192.168.{rng.randint(0, 9)}.{rng.randint(1, 254)}"))
        conn.executemany("INSERT INTO logs (ts, level, message, user_id, ip) VALUES (?,?,?,?,?)", logs)
