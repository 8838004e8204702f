"""Tables and deterministic seed data of the RetailCRM sandbox.

Two sites (`main`, `outlet`), five order statuses, a catalog of products with offers, and
customers and orders spread over both sites in ascending id order. Entities are stored as the
JSON the API answers (`body`), beside the columns the handlers filter on.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from conformance.sandbox.base import Database

__all__ = [
    "DATETIME_FORMAT",
    "SITES",
    "SITE_SUFFIX",
    "STATUSES",
    "create_tables",
    "format_datetime",
    "new_customer",
    "seed",
]

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
"""RetailCRM's "Date/Time": Y-m-d H:i:s (2014-03-21 05:14:07), never ISO 8601 with T."""

SITES: dict[str, dict[str, Any]] = {
    "main": {
        "code": "main",
        "name": "Main store",
        "url": "https://main.example.com",
        "description": "The main online store",
        "defaultForCrm": True,
        "currency": "RUB",
        "countryIso": "RU",
        "catalogId": "1",
        "loadFromYml": False,
    },
    "outlet": {
        "code": "outlet",
        "name": "Outlet",
        "url": "https://outlet.example.com",
        "description": "Last season's goods at a discount",
        "defaultForCrm": False,
        "currency": "RUB",
        "countryIso": "RU",
        "catalogId": "1",
        "loadFromYml": False,
    },
}

SITE_SUFFIX = {"main": "A", "outlet": "B"}
"""Letter after the id in generated order numbers (`7146A`), one per site, as RetailCRM does."""

STATUSES: dict[str, dict[str, Any]] = {
    code: {"code": code, "name": name, "active": True, "ordering": ordering, "group": group}
    for code, name, ordering, group in [
        ("new", "New", 10, "new"),
        ("assembling", "Assembling", 20, "assembling"),
        ("delivering", "Delivering", 30, "delivery"),
        ("complete", "Complete", 40, "complete"),
        ("cancel-other", "Cancelled", 50, "cancel"),
    ]
}

CUSTOMER_COUNT = 293
ORDER_COUNT = 317
PRODUCT_COUNT = 263
FIRST_CUSTOMER_ID = 4001
FIRST_ORDER_ID = 7001
FIRST_OFFER_ID = 10001
EPOCH = datetime(2023, 1, 9, 9, 0, 0)

FIRST_NAMES = ["Андрей", "Anna", "Pavel", "Olga", "Ivan", "Maria", "Sergey", "Elena", "Dmitry", "Natalia"]
LAST_NAMES = ["Ivanov", "Petrova", "Smirnov", "Kuznetsova", "Popov", "Sokolova", "Lebedev", "Kozlova"]
CITIES = [
    ("Москва", "Москва"),
    ("Rostov-na-Donu", "Rostovskaya oblast"),
    ("Kazan", "Tatarstan"),
    ("Saint Petersburg", "Saint Petersburg"),
    ("Novosibirsk", "Novosibirskaya oblast"),
]
PRODUCT_WORDS = ["Kettle", "Lamp", "Backpack", "Mug", "Scarf", "Notebook", "Headphones", "Umbrella", "Teapot"]
COLOURS = ["red", "blue", "green", "black", "white"]


def format_datetime(moment: datetime) -> str:
    return moment.strftime(DATETIME_FORMAT)


def create_tables(db: Database) -> None:
    """Creates the tables when missing (a file-backed sandbox keeps its data across restarts)."""
    for table in ("orders", "customers"):
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, external_id TEXT, site TEXT NOT NULL,"
            " from_api INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL)"
        )
        db.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_external_id ON {table} (external_id)"
            " WHERE external_id IS NOT NULL"
        )
    db.execute("CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS call_events (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, body TEXT NOT NULL)"
    )


def seed(db: Database, *, empty_account: bool = False) -> None:
    """Fills an empty database with the same data every time (fixed random seed).

    `empty_account` seeds the catalog only: a new account without any order or customer yet.
    """
    if not db.is_empty("products"):
        return
    products, customers, orders, last_item_id = seed_rows()
    if empty_account:
        customers, orders = (), ()
    with db.transaction() as conn:
        conn.executemany("INSERT INTO products (id, body) VALUES (?, ?)", products)
        conn.executemany(
            "INSERT INTO customers (id, external_id, site, from_api, body) VALUES (?, ?, ?, 0, ?)", customers
        )
        conn.executemany("INSERT INTO orders (id, external_id, site, from_api, body) VALUES (?, ?, ?, 0, ?)", orders)
        conn.execute("INSERT OR REPLACE INTO counters (name, value) VALUES ('order_item', ?)", (last_item_id,))


Row = tuple[Any, ...]


@cache
def seed_rows() -> tuple[tuple[Row, ...], tuple[Row, ...], tuple[Row, ...], int]:
    """Returns the seed rows (products, customers, orders) and the last order line id; built once."""
    rng = random.Random(4004)
    products = [_product(index, rng) for index in range(PRODUCT_COUNT)]
    customers = [_customer(index, rng) for index in range(CUSTOMER_COUNT)]
    by_site: dict[str, list[dict[str, Any]]] = {code: [] for code in SITES}
    for customer in customers:
        by_site[customer["site"]].append(customer)
    orders = [_order(index, rng, by_site, products) for index in range(ORDER_COUNT)]
    last_item_id = max(item["id"] for order in orders for item in order["items"])

    def rows(entities: list[dict[str, Any]]) -> tuple[Row, ...]:
        return tuple((e["id"], e.get("externalId"), e["site"], json.dumps(e, ensure_ascii=False)) for e in entities)

    product_rows = tuple((p["id"], json.dumps(p, ensure_ascii=False)) for p in products)
    return product_rows, rows(customers), rows(orders), last_item_id


def _product(index: int, rng: random.Random) -> dict[str, Any]:
    product_id = index + 1
    word = PRODUCT_WORDS[index % len(PRODUCT_WORDS)]
    name = f"{word} {product_id}"
    offers: list[dict[str, Any]] = []
    for number in range(1 + index % 2):
        offer_id = FIRST_OFFER_ID + index * 2 + number
        price = float(rng.randrange(190, 9990, 10))
        colour = COLOURS[(index + number) % len(COLOURS)]
        offers.append(
            {
                "id": offer_id,
                "externalId": f"offer-{offer_id}",
                "xmlId": f"xml-{offer_id}",
                "name": f"{name} ({colour})",
                "article": f"ART-{product_id:04d}-{number + 1}",
                "price": price,
                "prices": [{"priceType": "base", "price": price, "ordering": 991, "currency": "RUB"}],
                "quantity": float(rng.randrange(0, 40)),
                "active": True,
                "unit": {"code": "pc", "name": "Piece", "sym": "pcs"},
            }
        )
    prices: list[float] = [offer["price"] for offer in offers]
    return {
        "id": product_id,
        "externalId": f"product-{product_id}",
        "name": name,
        "article": f"ART-{product_id:04d}",
        "manufacturer": rng.choice(["Acme", "Northwind", "Globex"]),
        "url": f"https://main.example.com/catalog/{product_id}",
        "active": index % 17 != 0,
        "catalogId": 1,
        "minPrice": min(prices),
        "maxPrice": max(prices),
        "quantity": sum(offer["quantity"] for offer in offers),
        "createdAt": format_datetime(EPOCH - timedelta(days=30, hours=index)),
        "groups": [{"id": 1 + index % 4, "externalId": f"group-{1 + index % 4}"}],
        "offers": offers,
    }


def new_customer(customer_id: int, site: str, created_at: str, *, vip: bool = False) -> dict[str, Any]:
    """The fields every customer has before any is set: individual, no tags, zero sums and discounts.

    Seeded customers and those made by customers/create start from it, so both answer the same shape.
    """
    return {
        "type": "customer",
        "id": customer_id,
        "isContact": False,
        "createdAt": created_at,
        "vip": vip,
        "bad": False,
        "site": site,
        "contragent": {"contragentType": "individual"},
        "tags": [],
        "marginSumm": 0,
        "totalSumm": 0,
        "averageSumm": 0,
        "ordersCount": 0,
        "costSumm": 0,
        "customFields": {},
        "personalDiscount": 0,
        "cumulativeDiscount": 0,
    }


def _customer(index: int, rng: random.Random) -> dict[str, Any]:
    customer_id = FIRST_CUSTOMER_ID + index
    site = "outlet" if index % 3 == 2 else "main"
    first, last = FIRST_NAMES[index % len(FIRST_NAMES)], LAST_NAMES[(index * 3) % len(LAST_NAMES)]
    city, region = CITIES[index % len(CITIES)]
    created = format_datetime(EPOCH + timedelta(hours=index * 7, minutes=rng.randrange(60)))
    customer: dict[str, Any] = {
        **new_customer(customer_id, site, created, vip=index % 23 == 0),
        "address": {
            "id": 3000 + index,
            "countryIso": "RU",
            "region": region,
            "city": city,
            "text": f"{city}, ul. Lenina, d. {1 + index % 90}",
        },
        "segments": [],
        "firstName": first,
        "lastName": last,
        "email": f"customer{customer_id}@example.com",
        "phones": [{"number": f"+7900{customer_id:07d}"}],
    }
    if index % 7 != 3:  # some customers were created without an external id
        customer["externalId"] = f"cust-{customer_id}"
    return customer


def _order(
    index: int, rng: random.Random, by_site: dict[str, list[dict[str, Any]]], products: list[dict[str, Any]]
) -> dict[str, Any]:
    order_id = FIRST_ORDER_ID + index
    site = "outlet" if index % 3 == 1 else "main"
    customer = rng.choice(by_site[site])
    created = EPOCH + timedelta(days=40, hours=index * 5, minutes=rng.randrange(60), seconds=rng.randrange(60))
    status = rng.choice(list(STATUSES))
    items = []
    for number in range(1 + index % 3):
        product = rng.choice(products)
        offer = rng.choice(product["offers"])
        quantity = 1 + rng.randrange(3)
        items.append(
            order_item(
                FIRST_ORDER_ID * 10 + index * 3 + number,
                offer,
                product,
                offer["price"],
                quantity,
                format_datetime(created),
            )
        )
    summ = sum(item["initialPrice"] * item["quantity"] for item in items)
    delivery_cost = float(rng.choice([0, 0, 250, 350]))
    order: dict[str, Any] = {
        "slug": order_id,
        "id": order_id,
        "number": f"{order_id}{SITE_SUFFIX[site]}",
        "orderType": "eshop-individual",
        "orderMethod": rng.choice(["shopping-cart", "phone", "one-click"]),
        "countryIso": "RU",
        "createdAt": format_datetime(created),
        "statusUpdatedAt": format_datetime(created + timedelta(hours=2)),
        "summ": summ,
        "currency": "RUB",
        "totalSumm": summ + delivery_cost,
        "prepaySum": 0,
        "purchaseSumm": 0,
        "markDatetime": format_datetime(created),
        "firstName": customer["firstName"],
        "lastName": customer["lastName"],
        "phone": customer["phones"][0]["number"],
        "email": customer["email"],
        "call": False,
        "expired": False,
        "customer": customer,
        "contact": customer,
        "contragent": {"contragentType": "individual"},
        "delivery": {
            "code": "courier",
            "cost": delivery_cost,
            "netCost": 0,
            "address": {"countryIso": "RU", "text": customer["address"]["text"]},
        },
        "site": site,
        "status": status,
        "items": items,
        "payments": {},
        "fromApi": False,
        "shipped": status == "complete",
        "customFields": {},
    }
    if index % 10 != 4:  # some orders were created without an external id (like order 7141 of the fixtures)
        order["externalId"] = f"ord-{order_id}"
    return order


def order_item(
    item_id: int,
    offer: dict[str, Any] | None,
    product: dict[str, Any] | None,
    price: float,
    quantity: float,
    created_at: str,
    product_name: str | None = None,
) -> dict[str, Any]:
    """Returns an order line as the API answers it; without an offer it is a free-text line."""
    item: dict[str, Any] = {
        "markingCodes": [],
        "id": item_id,
        "initialPrice": price,
        "discountTotal": 0,
        "prices": [{"price": price, "quantity": quantity}],
        "vatRate": "none",
        "createdAt": created_at,
        "quantity": quantity,
        "status": "new",
        "properties": [],
        "purchasePrice": 0,
    }
    if offer is not None and product is not None:
        item["offer"] = {
            "displayName": offer["name"],
            "id": offer["id"],
            "externalId": offer["externalId"],
            "xmlId": offer["xmlId"],
            "name": product["name"],
            "article": offer["article"],
            "vatRate": "none",
            "unit": offer["unit"],
        }
    if product_name is not None:
        item["productName"] = product_name
    return item
