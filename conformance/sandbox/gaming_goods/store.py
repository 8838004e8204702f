"""Tables and deterministic seed data of the gaming-goods sandbox.

Catalog prices are stored in integer cents: the catalog shows them as decimal euros (19.99),
orders as integer cents (1999), as the seed does.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from conformance.sandbox.base import Database

from .tokens import DEMO_USER, OTHER_USER

__all__ = ["Product", "create_tables", "load_catalog", "new_key", "seed", "timestamp"]

CATEGORIES = ("Steam", "Xbox", "PlayStation", "Nintendo")
_ALL = CATEGORIES
_PC_CONSOLES = ("Steam", "Xbox", "PlayStation")

# (title, brand, categories it is sold for)
_TITLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Cyberpunk 2077", "CD Projekt", _PC_CONSOLES),
    ("The Witcher 3: Wild Hunt", "CD Projekt", _ALL),
    ("Halo Infinite", "Microsoft", ("Steam", "Xbox")),
    ("Forza Horizon 5", "Microsoft", ("Steam", "Xbox")),
    ("Microsoft Flight Simulator", "Microsoft", ("Steam", "Xbox")),
    ("Age of Empires IV", "Microsoft", ("Steam",)),
    ("Starfield", "Microsoft", ("Steam", "Xbox")),
    ("Sea of Thieves", "Microsoft", ("Steam", "Xbox", "PlayStation")),
    ("Minecraft", "Microsoft", ("Xbox", "PlayStation", "Nintendo")),
    ("Gears 5", "Microsoft", ("Steam", "Xbox")),
    ("EA Sports FC 25", "Electronic Arts", _ALL),
    ("Battlefield 2042", "Electronic Arts", _PC_CONSOLES),
    ("The Sims 4", "Electronic Arts", _PC_CONSOLES),
    ("Need for Speed Unbound", "Electronic Arts", _PC_CONSOLES),
    ("Star Wars Jedi: Survivor", "Electronic Arts", _PC_CONSOLES),
    ("Dead Space", "Electronic Arts", _PC_CONSOLES),
    ("It Takes Two", "Electronic Arts", _ALL),
    ("Assassin's Creed Mirage", "Ubisoft", _PC_CONSOLES),
    ("Far Cry 6", "Ubisoft", _PC_CONSOLES),
    ("Tom Clancy's Rainbow Six Siege", "Ubisoft", _PC_CONSOLES),
    ("Watch Dogs: Legion", "Ubisoft", _PC_CONSOLES),
    ("The Crew Motorfest", "Ubisoft", _PC_CONSOLES),
    ("Prince of Persia: The Lost Crown", "Ubisoft", _ALL),
    ("Half-Life: Alyx", "Valve", ("Steam",)),
    ("Portal 2", "Valve", ("Steam", "Nintendo")),
    ("Left 4 Dead 2", "Valve", ("Steam",)),
    ("The Elder Scrolls V: Skyrim", "Bethesda", _ALL),
    ("Fallout 4", "Bethesda", _PC_CONSOLES),
    ("DOOM Eternal", "Bethesda", _ALL),
    ("Call of Duty: Modern Warfare III", "Activision", _PC_CONSOLES),
    ("Diablo IV", "Activision", _PC_CONSOLES),
    ("Crash Bandicoot 4: It's About Time", "Activision", _ALL),
    ("Final Fantasy XVI", "Square Enix", ("Steam", "PlayStation")),
    ("Final Fantasy VII Rebirth", "Square Enix", ("Steam", "PlayStation")),
    ("Dragon Quest XI S", "Square Enix", _ALL),
    ("Resident Evil 4", "Capcom", _PC_CONSOLES),
    ("Monster Hunter: World", "Capcom", _PC_CONSOLES),
    ("Street Fighter 6", "Capcom", _PC_CONSOLES),
    ("Elden Ring", "Bandai Namco", _PC_CONSOLES),
    ("Tekken 8", "Bandai Namco", _PC_CONSOLES),
    ("Dark Souls III", "Bandai Namco", _PC_CONSOLES),
    ("Persona 5 Royal", "SEGA", _ALL),
    ("Sonic Frontiers", "SEGA", _ALL),
    ("Football Manager 2024", "SEGA", _PC_CONSOLES),
    ("Grand Theft Auto V", "Take-Two", _PC_CONSOLES),
    ("Red Dead Redemption 2", "Take-Two", _PC_CONSOLES),
    ("NBA 2K25", "Take-Two", _ALL),
    ("Borderlands 3", "Take-Two", _PC_CONSOLES),
    ("God of War Ragnarok", "Sony Interactive", ("Steam", "PlayStation")),
    ("Marvel's Spider-Man 2", "Sony Interactive", ("PlayStation",)),
    ("Horizon Forbidden West", "Sony Interactive", ("Steam", "PlayStation")),
    ("Ghost of Tsushima", "Sony Interactive", ("Steam", "PlayStation")),
    ("The Legend of Zelda: Tears of the Kingdom", "Nintendo", ("Nintendo",)),
    ("Super Mario Bros. Wonder", "Nintendo", ("Nintendo",)),
    ("Mario Kart 8 Deluxe", "Nintendo", ("Nintendo",)),
    ("Animal Crossing: New Horizons", "Nintendo", ("Nintendo",)),
    ("Splatoon 3", "Nintendo", ("Nintendo",)),
    ("Hogwarts Legacy", "Warner Bros. Games", _ALL),
    ("Mortal Kombat 1", "Warner Bros. Games", _ALL),
)

# (name, brand, category, price in cents): cards and subscriptions, one edition each
_CARDS: tuple[tuple[str, str, str, int], ...] = (
    *((f"Steam Wallet Gift Card {v} EUR", "Valve", "Steam", v * 100 + 49) for v in (5, 10, 20, 50, 100)),
    *((f"Xbox Gift Card {v} EUR", "Microsoft", "Xbox", v * 100 + 29) for v in (10, 15, 25, 50)),
    ("Xbox Game Pass Ultimate 1 Month", "Microsoft", "Xbox", 1799),
    ("Xbox Game Pass Ultimate 3 Months", "Microsoft", "Xbox", 4999),
    *((f"PlayStation Store Gift Card {v} EUR", "Sony Interactive", "PlayStation", v * 100 + 39) for v in (10, 20, 50)),
    ("PlayStation Plus Essential 3 Months", "Sony Interactive", "PlayStation", 2599),
    ("PlayStation Plus Essential 12 Months", "Sony Interactive", "PlayStation", 7199),
    *((f"Nintendo eShop Card {v} EUR", "Nintendo", "Nintendo", v * 100 + 59) for v in (15, 25, 50)),
    ("Nintendo Switch Online 12 Months", "Nintendo", "Nintendo", 1999),
)

_EDITIONS = (("", 1.0, 0), ("Deluxe Edition", 0.5, 1500), ("Ultimate Edition", 0.25, 3000))
_PRICES = (999, 1499, 1999, 2499, 2999, 3499, 3999, 4999, 5999, 6999)
_ACTIVATION = {
    "Steam": "Open the Steam client, choose Games → Activate a Product on Steam and enter the key.",
    "Xbox": "Sign in at microsoft.com/redeem with your Xbox account and enter the 25-character code.",
    "PlayStation": "Open PlayStation Store, select your avatar → Redeem Codes and enter the code.",
    "Nintendo": "Open Nintendo eShop on your Switch, select Enter Code and type the 16-character code.",
}
_BLURBS = (
    "An award-winning adventure with a rich story and a vast world to explore.",
    "Fast-paced action and a campaign packed with memorable battles.",
    "A competitive online experience with regular seasonal updates.",
    "A relaxing game for all ages and a favourite of families.",
    "A challenging role-playing game with deep character progression.",
)


@dataclass(frozen=True)
class Product:
    """One catalog product, as stored."""

    id: str
    position: int
    name: str
    slug: str
    category: str
    brand: str
    description: str
    price_cents: int
    currency: str
    stock_quantity: int
    image_url: str
    is_active: bool
    activation_details: str

    def summary(self) -> dict[str, Any]:
        """Returns the list item of `GET /products`."""
        return {
            "id": self.id,
            "name": self.name,
            "slug": self.slug,
            "category": self.category,
            "brand": self.brand,
            "price": self.price_cents / 100,
            "currency": self.currency,
            "stock_quantity": self.stock_quantity,
            "image_url": self.image_url,
            "is_active": self.is_active,
        }

    def detail(self) -> dict[str, Any]:
        """Returns the body of `GET /products/{slug}`."""
        body = self.summary()
        body["description"] = self.description
        body["meta"] = {"activation_details": self.activation_details}
        return body

    def search_hit(self) -> dict[str, Any]:
        """Returns the list item of `GET /search` (the seed shows fewer fields there)."""
        return {
            "id": self.id,
            "name": self.name,
            "slug": self.slug,
            "price": self.price_cents / 100,
            "stock_quantity": self.stock_quantity,
            "is_active": self.is_active,
        }

    @property
    def searchable(self) -> str:
        return " ".join((self.name, self.slug, self.brand, self.category, self.description)).lower()


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("'", "")).strip("-")


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as the seed writes it (`2026-03-14T12:00:00Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_key(rng: random.Random) -> str:
    """An activation key like the seed's `XXXXX-XXXXX-XXXXX-XXXXX`."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(rng.choice(alphabet) for _ in range(5)) for _ in range(4))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def create_tables(db: Database) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS products (id TEXT PRIMARY KEY, position INTEGER UNIQUE, name TEXT,"
        " slug TEXT UNIQUE, category TEXT, brand TEXT, description TEXT, price_cents INTEGER,"
        " currency TEXT, stock_quantity INTEGER, image_url TEXT, is_active INTEGER, activation_details TEXT)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, seq INTEGER, user_id TEXT, status TEXT,"
        " total INTEGER, currency TEXT, payment_method TEXT, promo_code TEXT, payment_url TEXT,"
        " created_at TEXT, completed_at TEXT, seeded INTEGER)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS order_items (order_id TEXT, line INTEGER, product_id TEXT,"
        " product_name TEXT, price INTEGER, quantity INTEGER, keys TEXT, PRIMARY KEY (order_id, line))"
    )


def _catalog(rng: random.Random) -> list[Product]:
    drafts: list[dict[str, Any]] = []
    for title, brand, categories in _TITLES:
        base = rng.choice(_PRICES)
        blurb = rng.choice(_BLURBS)
        for category in categories:
            for edition, chance, extra in _EDITIONS:
                if rng.random() >= chance:
                    continue
                name = f"{title} {edition}".strip()
                drafts.append(
                    {
                        "name": name,
                        "brand": brand,
                        "category": category,
                        "price_cents": base + extra,
                        "description": f"{name} for {category}. {blurb} Delivered as a digital key.",
                    }
                )
    for name, brand, category, price in _CARDS:
        drafts.append(
            {
                "name": name,
                "brand": brand,
                "category": category,
                "price_cents": price,
                "description": f"{name}: a digital code to top up your {category} account.",
            }
        )
    drafts.sort(key=lambda d: (d["name"].lower(), d["category"]))
    products = []
    for position, draft in enumerate(drafts):
        slug = slugify(f"{draft['name']} {draft['category']} key")
        # a few products are inactive (out of stock), never the first one a client sees
        active = position == 0 or rng.random() >= 0.05
        products.append(
            Product(
                id=_uuid(rng),
                position=position,
                slug=slug,
                currency="EUR",
                stock_quantity=rng.randint(1, 250) if active else 0,
                image_url=f"https://gaming-goods.ru/images/{slug}.jpg",
                is_active=active,
                activation_details=_ACTIVATION[draft["category"]],
                **draft,
            )
        )
    assert len({p.slug for p in products}) == len(products), "duplicate slug"
    return products


def seed(db: Database, *, rng_seed: int = 1001) -> None:
    """Fills an empty database: the catalog and orders of two users in every status."""
    if not db.is_empty("products"):
        return
    rng = random.Random(rng_seed)
    products = _catalog(rng)
    assert len(products) >= 250
    active = [p for p in products if p.is_active]
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    # (user, status, lines, promo)
    plans = [
        (DEMO_USER, "completed", 1, None),
        (DEMO_USER, "completed", 2, "SALE10"),
        (DEMO_USER, "paid", 1, None),
        (DEMO_USER, "pending_payment", 2, None),
        (DEMO_USER, "cancelled", 1, None),
        (DEMO_USER, "pending_payment", 1, "SALE10"),
        (OTHER_USER, "completed", 1, None),
        (OTHER_USER, "pending_payment", 3, None),
        (OTHER_USER, "cancelled", 1, None),
    ]
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    p.id,
                    p.position,
                    p.name,
                    p.slug,
                    p.category,
                    p.brand,
                    p.description,
                    p.price_cents,
                    p.currency,
                    p.stock_quantity,
                    p.image_url,
                    int(p.is_active),
                    p.activation_details,
                )
                for p in products
            ],
        )
        for seq, (user, status, line_count, promo) in enumerate(plans, start=1):
            order_id = _uuid(rng)
            created = start + timedelta(days=seq, minutes=rng.randint(0, 600))
            lines = [(rng.choice(active), rng.randint(1, 2)) for _ in range(line_count)]
            subtotal = sum(p.price_cents * quantity for p, quantity in lines)
            total = subtotal * 9 // 10 if promo == "SALE10" else subtotal
            completed_at = timestamp(created + timedelta(seconds=5)) if status == "completed" else None
            payment_url = f"https://gaming-goods.ru/pay/{order_id}" if status == "pending_payment" else None
            conn.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (
                    order_id,
                    seq,
                    user,
                    status,
                    total,
                    "EUR",
                    rng.choice(("balance", "card")),
                    promo,
                    payment_url,
                    timestamp(created),
                    completed_at,
                ),
            )
            for line, (product, quantity) in enumerate(lines):
                keys = [new_key(rng) for _ in range(quantity)] if status == "completed" else None
                conn.execute(
                    "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        order_id,
                        line,
                        product.id,
                        product.name,
                        product.price_cents,
                        quantity,
                        None if keys is None else json.dumps(keys),
                    ),
                )


def load_catalog(db: Database) -> list[Product]:
    """Returns every product in catalog order (by name, then category)."""
    rows = db.all("SELECT * FROM products ORDER BY position")
    return [
        Product(**{key: row[key] for key in row.keys() if key != "is_active"}, is_active=bool(row["is_active"]))
        for row in rows
    ]
