"""The sandbox's tables and its deterministic seed data.

Sizes are chosen so that every list has several pages at its maximum page size (100):
240 brands (3 pages), 720 products (8 pages) and 260 seed orders (3 pages). Every brand has
at least one available product, so every brand listed has categories to show.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from conformance.sandbox.base import Database

__all__ = [
    "BRAND_COUNT",
    "ORDER_COUNT",
    "PRODUCT_COUNT",
    "catalog_rows",
    "create_tables",
    "order_rows",
    "seed",
    "timestamp",
]

BRAND_COUNT = 240
PRODUCT_COUNT = 720
ORDER_COUNT = 260

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    brand TEXT NOT NULL,
    category TEXT NOT NULL,
    price INTEGER NOT NULL,
    currency TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    is_available INTEGER NOT NULL,
    delivery_type TEXT NOT NULL,
    product_type TEXT NOT NULL,
    images TEXT NOT NULL,
    short_description TEXT NOT NULL,
    description TEXT NOT NULL,
    specifications TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS products_brand ON products (brand, category);
CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    partner TEXT NOT NULL,
    origin TEXT NOT NULL,
    buyer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    currency TEXT NOT NULL,
    platform_fee INTEGER NOT NULL,
    payment_method TEXT NOT NULL,
    payment_state TEXT NOT NULL,
    delivery_type TEXT NOT NULL,
    codes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_partner ON orders (partner, seq);
CREATE TABLE IF NOT EXISTS order_items (
    order_id TEXT NOT NULL,
    line INTEGER NOT NULL,
    product_id TEXT NOT NULL,
    title TEXT NOT NULL,
    unit_price INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (order_id, line)
);
"""

# The seed's own examples come first: "Steam" and "Xbox" lead the brand list, and the first
# product of the catalog is the seed's "Cyberpunk 2077 Steam Key".
_KNOWN_BRANDS = (
    "Steam|Xbox|PlayStation|Nintendo|CD Projekt|Ubisoft|Electronic Arts|Microsoft|Activision|"
    "Bethesda|Square Enix|Capcom|Sega|Bandai Namco|Konami|Rockstar Games|Valve|Epic Games|"
    "Riot Games|Blizzard|Paradox Interactive|Devolver Digital|THQ Nordic|Warner Bros. Games|"
    "Focus Entertainment|Team17|Deep Silver|Koei Tecmo|Google Play|Apple|Roblox|Razer Gold|"
    "Battle.net|EA Play|GOG|Spotify|Netflix|Twitch|Nexon|Wargaming|Gaijin|miHoYo|Krafton|"
    "Tencent Games|NetEase Games|Annapurna"
).split("|")
_BRAND_PREFIXES = (
    "Red|Blue|Iron|Pixel|Nova|Lunar|Crimson|Silver|Quantum|Atlas|Ember|Frost|Echo|Orbit|Vortex|"
    "Zenith|Golden|Shadow|Arcade|Neon|Polar|Rune|Cobalt|Falcon|Granite|Harbor|Indigo|Juniper|"
    "Kestrel|Maple"
).split("|")
_BRAND_SUFFIXES = ["Studios", "Games", "Interactive", "Works", "Digital", "Entertainment", "Software", "Labs"]

_CATEGORIES = ["Game Keys", "Gift Card", "DLC", "Subscription", "In-Game Currency", "Software", "Pre-order"]
_CATEGORY_WEIGHTS = [50, 12, 12, 6, 10, 4, 6]

_WORDS_A = (
    "Shadow|Star|Iron|Dragon|Neon|Last|Lost|Silent|Eternal|Hollow|Crimson|Frozen|Wild|Broken|"
    "Hidden|Ancient|Cosmic|Rogue|Savage|Café"
).split("|")
_WORDS_B = (
    "Legends|Frontier|Empire|Odyssey|Protocol|Kingdom|Horizon|Requiem|Tactics|Chronicles|"
    "Outpost|Dynasty|Harbor|Circuit|Crusade|Station|Colony|Racer"
).split("|")
_DELIVERY = {"KINGUIN": "EXTERNAL", "GAMING_GOODS": "INTERNAL"}
_PLATFORMS = ["Steam", "Xbox", "PlayStation", "Nintendo", "Epic Games", "GOG", "Battle.net", "Android", "iOS"]
_REGIONS = ["Global", "EU", "Europe & UK", "Germany"]

SEED_START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


def create_tables(db: Database) -> None:
    """Creates the tables when they do not exist yet (a file-backed sandbox keeps its rows)."""
    with db.lock:
        db.conn.executescript(SCHEMA)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as the seed writes it (`2026-03-14T12:00:00Z`)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _brands(rng: random.Random) -> list[str]:
    names = list(_KNOWN_BRANDS)
    pool = [f"{prefix} {suffix}" for prefix in _BRAND_PREFIXES for suffix in _BRAND_SUFFIXES]
    rng.shuffle(pool)
    names += pool[: BRAND_COUNT - len(names)]
    return names


def _title(rng: random.Random, brand: str, category: str, price: int) -> str:
    game = f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}"
    if category == "Game Keys":
        return f"{game} {rng.choice(['Steam Key', 'Key', 'Deluxe Edition Key', 'Xbox Key', 'PS5 Key'])}"
    if category == "Gift Card":
        return f"{brand} Gift Card {price // 100} EUR"
    if category == "DLC":
        return f"{game}: {rng.choice(_WORDS_B)} Expansion DLC"
    if category == "Subscription":
        return f"{brand} {rng.choice([1, 3, 6, 12])}-Month Subscription"
    if category == "In-Game Currency":
        return f"{game} {rng.choice([500, 1000, 2800, 5000])} Coins"
    if category == "Pre-order":
        return f"{game} II Pre-order Key"
    return f"{brand} {game} License"


def _price(rng: random.Random, category: str) -> int:
    if category == "Gift Card":
        return rng.choice([500, 1000, 1500, 2500, 5000, 10000])
    return rng.randrange(99, 7000, 50) + 49


def _product(rng: random.Random, brand: str, category: str, *, available: bool) -> tuple[Any, ...]:
    product_id = _uuid(rng)
    price = _price(rng, category)
    product_type = rng.choice(["KINGUIN", "KINGUIN", "GAMING_GOODS"])
    quantity = rng.randint(1, 500) if available else 0
    short = rng.choice(["", "", "Instant delivery", f"Region: {rng.choice(_REGIONS)}"])
    specifications = [
        {"key": "platform", "value": rng.choice(_PLATFORMS)},
        {"key": "region", "value": rng.choice(_REGIONS)},
    ]
    title = _title(rng, brand, category, price)
    description = f"{title}. Digital delivery; the activation key appears in the order once it is fulfilled."
    return (
        product_id, title, brand, category, price, "EUR", quantity, int(available),
        _DELIVERY[product_type], product_type,
        json.dumps([f"https://gaming-goods.ru/images/products/{product_id}.jpg"]),
        short, description, json.dumps(specifications),
    )  # fmt: skip


def _code(rng: random.Random) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "-".join("".join(rng.choice(alphabet) for _ in range(5)) for _ in range(3))


def seed(db: Database, partners: dict[str, str], *, order_count: int = ORDER_COUNT) -> None:
    """Fills empty tables with the deterministic catalog and each partner's seed orders.

    `partners` maps each partner key to its buyer id.
    """
    with db.transaction() as conn:
        if conn.execute("SELECT COUNT(*) FROM products").fetchone()[0] == 0:
            conn.executemany(
                "INSERT INTO products (id, title, brand, category, price, currency, quantity, is_available,"
                " delivery_type, product_type, images, short_description, description, specifications)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                catalog_rows(),
            )
        if conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0:
            for partner, buyer_id in partners.items():
                orders, items = order_rows(partner, buyer_id, order_count)
                conn.executemany(
                    "INSERT INTO orders (id, partner, origin, buyer_id, status, total, currency, platform_fee,"
                    " payment_method, payment_state, delivery_type, codes, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    orders,
                )
                conn.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?)", items)


Row = tuple[Any, ...]


@cache
def catalog_rows() -> tuple[Row, ...]:
    """Returns the product rows, in catalog order (computed once: every app inserts the same)."""
    rng = random.Random("gaming-goods-partner catalog")
    brands = _brands(rng)
    rows: list[Row] = [
        (
            "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "Cyberpunk 2077 Steam Key", "CD Projekt", "Game Keys",
            1999, "EUR", 12, 1, "EXTERNAL", "KINGUIN",
            json.dumps(["https://gaming-goods.ru/images/products/cyberpunk-2077.jpg"]), "",
            "Open-world action-adventure set in Night City.",
            json.dumps([{"key": "platform", "value": "Steam"}, {"key": "region", "value": "Global"}]),
        )
    ]  # fmt: skip
    # Every brand gets one available product; the rest follow a long-tailed popularity.
    for brand in brands:
        category = rng.choices(_CATEGORIES, _CATEGORY_WEIGHTS)[0]
        rows.append(_product(rng, brand, category, available=True))
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(brands))]
    while len(rows) < PRODUCT_COUNT:
        brand = rng.choices(brands, weights)[0]
        category = rng.choices(_CATEGORIES, _CATEGORY_WEIGHTS)[0]
        rows.append(_product(rng, brand, category, available=rng.random() > 0.12))
    first, rest = rows[0], rows[1:]
    rng.shuffle(rest)  # the seed's product stays first: it is available, with stock 12
    return (first, *rest)


_STATUSES = [("completed", "paid"), ("paid", "paid"), ("created", "pending"), ("cancelled", "cancelled")]
_STATUS_WEIGHTS = [60, 10, 15, 15]


@cache
def order_rows(partner: str, buyer_id: str, count: int = ORDER_COUNT) -> tuple[tuple[Row, ...], tuple[Row, ...]]:
    """Returns (order rows, order item rows) of a partner's seed orders, oldest first."""
    rng = random.Random(f"gaming-goods-partner orders {partner}")
    products = [row for row in catalog_rows() if row[7]]  # is_available
    moment = SEED_START
    orders: list[Row] = []
    items: list[Row] = []
    for _ in range(count):
        order_id = _uuid(rng)
        moment += timedelta(minutes=rng.randint(20, 900), seconds=rng.randint(0, 59))
        status, payment_state = rng.choices(_STATUSES, _STATUS_WEIGHTS)[0]
        lines = rng.sample(products, rng.choice([1, 1, 1, 2, 3]))
        total, codes = 0, []
        for line, (product_id, title, _, _, price, *_) in enumerate(lines):
            quantity = rng.choice([1, 1, 1, 2, 3])
            total += price * quantity
            items.append((order_id, line, product_id, title, price, quantity))
            if status == "completed":
                codes += [_code(rng) for _ in range(quantity)]
        updated = moment + timedelta(seconds=rng.randint(2, 30) if status != "created" else 0)
        orders.append((
            order_id, partner, "seed", buyer_id, status, total, "EUR", 0,
            rng.choice(["balance", "balance", "balance", "card"]), payment_state,
            lines[0][8], json.dumps(codes), timestamp(moment), timestamp(updated),
        ))  # fmt: skip
    return tuple(orders), tuple(items)
