"""The goat sandbox's tables and its deterministic seed data.

The seed document's own example ids (account `acc_01HX9Q9D7P`, product `prod_01HX9R2Q2C`, order
`ord_01HX9R8NQ4`, payment `pay_01HX9S0H5Y` of 1490 RUB) exist in the sandbox, so the spec's
examples work against it; everything else comes from a fixed `random.Random`.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from conformance.sandbox.base import Database

__all__ = [
    "ALPHABET",
    "CATEGORIES",
    "FULL_KEY",
    "LIMITED_KEY",
    "create_tables",
    "new_id",
    "seed",
    "timestamp",
]

FULL_KEY = "goat_sk_test_full_4F9C2A7D"
LIMITED_KEY = "goat_sk_test_limited_7D1E0B3C"

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, as in the seed's ids
CATEGORIES = ("games", "gift_cards", "subscriptions", "software", "in_game_currency")
PRODUCT_COUNT = 300
SEED = 20260524

_TABLES = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, api_key TEXT UNIQUE NOT NULL, name TEXT, environment TEXT, permissions TEXT);
CREATE TABLE IF NOT EXISTS products (
    id TEXT PRIMARY KEY, name TEXT, category TEXT, platform TEXT, region TEXT, availability TEXT,
    price INTEGER, currency TEXT, metadata TEXT);
CREATE INDEX IF NOT EXISTS products_category ON products (category, id);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, account_id TEXT, product_id TEXT, quantity INTEGER, external_id TEXT,
    contact TEXT, status TEXT, payment_status TEXT, delivery_status TEXT, payment_id TEXT,
    metadata TEXT, notes TEXT, origin TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY, account_id TEXT, order_id TEXT, amount INTEGER, currency TEXT,
    provider_reference TEXT, status TEXT, created_at TEXT);
"""


def timestamp(moment: datetime | None = None) -> str:
    """Returns an RFC 3339 UTC timestamp with a Z suffix (`2026-05-24T12:00:00Z`)."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(prefix: str, choice: Callable[[str], str] | None = None) -> str:
    """Returns `prefix` and ten upper-case letters or digits (`ord_01HX9R8NQ4`).

    Without `choice` the characters are random: one `os.urandom` call for all ten (each byte's low
    five bits pick one of the 32 characters uniformly), not ten `secrets.choice` calls of one each.
    """
    if choice is None:
        return prefix + "".join([ALPHABET[byte & 31] for byte in secrets.token_bytes(10)])
    return prefix + "".join(choice(ALPHABET) for _ in range(10))


def create_tables(db: Database) -> None:
    with db.lock:
        db.conn.executescript(_TABLES)


# --- seed data ---------------------------------------------------------------------------

_GAME_WORDS = (
    ("Iron", "Silent", "Crimson", "Hollow", "Starlit", "Frozen", "Last", "Wild", "Neon", "Ancient"),
    ("Frontier", "Kingdom", "Protocol", "Harbor", "Legends", "Odyssey", "Citadel", "Drift", "Horizon", "Outpost"),
    ("Standard Edition", "Deluxe Edition", "Gold Edition"),
)
_STORES = (
    ("Steam", "steam"),
    ("PlayStation Store", "playstation"),
    ("Xbox", "xbox"),
    ("Nintendo eShop", "nintendo_switch"),
    ("App Store", "ios"),
    ("Google Play", "android"),
)
_SERVICES = (
    ("Game Pass Ultimate", "xbox"),
    ("PlayStation Plus Essential", "playstation"),
    ("PlayStation Plus Extra", "playstation"),
    ("Nintendo Switch Online", "nintendo_switch"),
    ("EA Play", "pc"),
    ("Ubisoft+", "pc"),
)
_SOFTWARE = ("Office Suite Home", "Photo Studio", "Video Cutter Pro", "Antivirus Total", "VPN Shield", "Cloud Backup")
_CURRENCIES_IN_GAME = (
    ("Valorant", "Points"),
    ("Fortnite", "V-Bucks"),
    ("Apex Legends", "Coins"),
    ("Genshin Impact", "Genesis Crystals"),
    ("PUBG Mobile", "UC"),
)
_REGIONS = ("global", "global", "eu", "us", "ru", "tr", "latam")
_AVAILABILITY = ("in_stock",) * 8 + ("out_of_stock", "preorder")
_ORDER_STATES = (  # (status, payment_status, delivery_status), weighted towards pending payments
    *[("processing", "pending", "not_started")] * 6,
    ("processing", "succeeded", "in_progress"),
    ("completed", "succeeded", "delivered"),
    ("completed", "succeeded", "delivered"),
    ("cancelled", "failed", "not_started"),
)


def _product(rng: random.Random, category: str) -> dict[str, object]:
    currency = rng.choice(("RUB", "RUB", "RUB", "USD", "EUR"))
    price = rng.randrange(99, 9999) * (100 if currency == "RUB" else 1)
    platform: str | None
    if category == "games":
        first, second, edition = (rng.choice(words) for words in _GAME_WORDS)
        name, platform = f"{first} {second} {edition}", rng.choice(("pc", "playstation", "xbox", "nintendo_switch"))
        delivery = "digital_key"
    elif category == "gift_cards":
        store, platform = rng.choice(_STORES)
        amount = rng.choice((500, 1000, 2000, 5000)) if currency == "RUB" else rng.choice((10, 20, 50, 100))
        name, price, delivery = f"{store} Gift Card {amount} {currency}", amount * 100, "gift_code"
        platform = None if rng.random() < 0.3 else platform  # some cards redeem anywhere
    elif category == "subscriptions":
        service, platform = rng.choice(_SERVICES)
        months = rng.choice((1, 3, 12))
        name, delivery = f"{service} {months} month{'s' if months > 1 else ''}", "digital_key"
    elif category == "software":
        name = f"{rng.choice(_SOFTWARE)} {rng.choice((2025, 2026))}"
        platform, delivery = rng.choice(("windows", "macos", None)), "license_key"
    else:
        game, unit = rng.choice(_CURRENCIES_IN_GAME)
        name = f"{game} {rng.choice((100, 500, 1000, 2800, 5000))} {unit}"
        platform, delivery = rng.choice(("pc", "mobile")), "account_top_up"
    return {
        "name": name,
        "category": category,
        "platform": platform,
        "region": rng.choice(_REGIONS),
        "availability": rng.choice(_AVAILABILITY),
        "price": price,
        "currency": currency,
        "metadata": {"price": price, "currency": currency, "delivery": delivery},
    }


def seed(db: Database, *, product_count: int = PRODUCT_COUNT, categories: tuple[str, ...] = CATEGORIES) -> None:
    """Fills an empty database: two accounts, 300 products, 80 orders with their payments."""
    if not db.is_empty("accounts"):
        return
    rng = random.Random(SEED)
    ids: set[str] = set()

    def unique(prefix: str) -> str:
        while (value := new_id(prefix, rng.choice)) in ids:
            pass
        ids.add(value)
        return value

    accounts = [
        ("acc_01HX9Q9D7P", FULL_KEY, "Partner Account", "sandbox", ["products:read", "orders:write", "payments:read"]),
        ("acc_01HXA0RD2K", LIMITED_KEY, "Read-only Partner", "sandbox", ["products:read", "payments:read"]),
    ]
    products: list[dict[str, object]] = []
    for index in range(product_count):
        product = _product(rng, categories[index % len(categories)] if index % 7 else rng.choice(categories))
        product["id"] = "prod_01HX9R2Q2C" if index == 0 else unique("prod_")
        products.append(product)
    products[0].update(
        name="Iron Frontier Standard Edition",
        category="games",
        platform="pc",
        region="ru",
        availability="in_stock",
        price=1490,
        currency="RUB",
        metadata={"price": 1490, "currency": "RUB", "delivery": "digital_key"},
    )
    start = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    orders, payments = [], []
    for index in range(80):
        account_id = accounts[0][0] if index < 60 else accounts[1][0]
        product = products[0] if index == 0 else rng.choice(products)
        status, payment_status, delivery_status = ("processing", "pending", "not_started")
        if index:
            status, payment_status, delivery_status = rng.choice(_ORDER_STATES)
        quantity = 1 if index == 0 else rng.choice((1, 1, 1, 2, 3, 5))
        order_id = "ord_01HX9R8NQ4" if index == 0 else unique("ord_")
        payment_id = "pay_01HX9S0H5Y" if index == 0 else unique("pay_")
        created = timestamp(start + timedelta(minutes=397 * index + rng.randrange(300)))
        updated = (
            created
            if status == "processing" and payment_status == "pending"
            else timestamp(start + timedelta(minutes=397 * index + 600))
        )
        customer = (f"user_{rng.randrange(10000, 99999)}", f"customer{rng.randrange(1000)}@example.com")
        orders.append(
            (
                order_id,
                account_id,
                product["id"],
                quantity,
                *customer,
                status,
                payment_status,
                delivery_status,
                payment_id,
                "{}",
                None,
                "seed",
                created,
                updated,
            )
        )
        payments.append(
            (
                payment_id,
                account_id,
                order_id,
                int(product["price"]) * quantity,  # type: ignore[call-overload]
                product["currency"],
                unique("psp_"),
                payment_status,
                created,
            )
        )
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?)", [(*row[:4], json.dumps(row[4])) for row in accounts]
        )
        conn.executemany(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    p["id"],
                    p["name"],
                    p["category"],
                    p["platform"],
                    p["region"],
                    p["availability"],
                    p["price"],
                    p["currency"],
                    json.dumps(p["metadata"]),
                )
                for p in products
            ],
        )
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", orders)
        conn.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?, ?)", payments)
