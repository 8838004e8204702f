"""The Tribute Shop sandbox's tables, its deterministic seed data and their JSON shapes."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from conformance.sandbox.base import Database
from conformance.sandbox.tribute_shop.validation import CURRENCIES, PERIODS, STATUSES

__all__ = ["SCHEMA", "iso", "order_json", "payment_url", "seed", "transaction_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS shops (id INTEGER PRIMARY KEY, api_key TEXT UNIQUE NOT NULL, name TEXT,
    link TEXT, callback_url TEXT, recurrent INTEGER, status INTEGER);
CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT UNIQUE NOT NULL,
    shop_id INTEGER NOT NULL, amount INTEGER, currency TEXT, title TEXT, description TEXT, status TEXT,
    period TEXT, email TEXT, success_url TEXT, fail_url TEXT, comment TEXT, customer_id TEXT,
    save_payment_method INTEGER, payment_url TEXT, created_at TEXT, via_api INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS transactions (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, type TEXT,
    amount INTEGER, currency TEXT, total INTEGER, created_at INTEGER, is_refunded INTEGER DEFAULT 0);
CREATE INDEX IF NOT EXISTS orders_by_shop ON orders (shop_id, id);
CREATE INDEX IF NOT EXISTS transactions_by_order ON transactions (order_id, id);
"""

_TITLES = [
    "Product X",
    "Premium access",
    "Курс по дизайну",
    "Sticker pack ✨",
    "Donation",
    "Consultation",
    "VIP channel 🚀",
    "E-book",
    "Подписка",
    "Workshop ticket",
    "Coffee ☕",
    "Mentoring session",
]


def iso(moment: datetime, *, milliseconds: bool = False) -> str:
    if milliseconds:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def payment_url(order_uuid: str) -> str:
    return f"https://web.tribute.tg/shop/pay/{order_uuid}"


def seed(db: Database, keys: dict[str, str]) -> None:
    """Fills an empty database: deterministic, the same on every start."""
    rng = random.Random(3)
    shops = [
        (
            1042,
            keys["full"],
            "Demo Shop",
            "https://t.me/tribute/app?startapp=s1042",
            "https://shop.example/tribute/webhook",
            1,
            1,
        ),
        (
            2077,
            keys["limited"],
            "One-time Shop",
            "https://t.me/tribute/app?startapp=s2077",
            "https://onetime.example/tribute/webhook",
            0,
            1,
        ),
    ]
    orders: list[tuple[Any, ...]] = []
    transactions: list[list[Any]] = []

    def add_tx(order_id: int, kind: str, amount: int, currency: str, at: int, refunded: int = 0) -> list[Any]:
        total = amount if kind == "refund" else amount - amount // 10  # a 10% fee on payments
        tx_id = transactions[-1][0] + rng.randint(1, 3) if transactions else 12001
        transactions.append([tx_id, order_id, kind, amount, currency, total, at, refunded])
        return transactions[-1]

    def add_orders(shop_id: int, count: int, recurrent: bool, newest_tx: int) -> None:
        moment = datetime(2025, 1, 6, 9, 0, tzinfo=UTC) + timedelta(minutes=shop_id)
        for index in range(count):
            moment += timedelta(minutes=rng.randint(60, 1800))
            newest = index == count - 1
            period = rng.choice(PERIODS) if recurrent and rng.random() < 0.45 else "onetime"
            status = rng.choices(STATUSES, weights=(3, 6, 2, 2))[0]
            if newest:
                period, status = ("monthly" if recurrent else "onetime"), "paid"
            order_id = len(orders) + 1
            order_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            amount, currency = rng.choice((990, 4900, 15000, 100000, 250000)), rng.choice(CURRENCIES)
            email = f"customer{order_id}@example.com" if rng.random() < 0.6 else None
            urls = ("https://shop.example/success", "https://shop.example/fail") if rng.random() < 0.5 else (None, None)
            orders.append(
                (
                    order_id,
                    order_uuid,
                    shop_id,
                    amount,
                    currency,
                    rng.choice(_TITLES),
                    f"Order #{order_id} of shop {shop_id}",
                    status,
                    period,
                    email,
                    *urls,
                    None,
                    None,
                    int(period != "onetime"),
                    payment_url(order_uuid),
                    iso(moment),
                )
            )
            at = int(moment.timestamp()) + 120
            if newest:
                add_tx(order_id, "sell", amount, currency, at)  # the first stays refundable
                refundable: list[list[Any]] = []
                for _ in range(1, newest_tx):
                    at += 3600
                    roll = rng.random()
                    if roll < 0.15 and refundable:
                        refundable.pop(rng.randrange(len(refundable)))[7] = 1
                        add_tx(order_id, "refund", amount, currency, at)
                    elif roll < 0.45:
                        refundable.append(add_tx(order_id, "sell", amount, currency, at))
                    else:
                        add_tx(order_id, "charge", amount, currency, at)
            elif status == "paid" or (status == "cancelled" and period != "onetime"):
                refunded = int(status == "paid" and rng.random() < 0.2)
                add_tx(order_id, "sell", amount, currency, at, refunded)
                for _ in range(rng.randint(0, 4) if period != "onetime" else 0):
                    at += 86400 * 7
                    add_tx(order_id, "charge", amount, currency, at)
                if refunded:
                    add_tx(order_id, "refund", amount, currency, at + 600)

    add_orders(1042, 262, True, 176)
    add_orders(2077, 12, False, 3)
    with db.transaction() as conn:
        conn.executemany("INSERT INTO shops VALUES (?, ?, ?, ?, ?, ?, ?)", shops)
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)", orders)
        conn.executemany("INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", transactions)


def order_json(row: Any, *, extra_fields: bool = False, milliseconds: bool = False) -> dict[str, Any]:
    """An order as listed; `extra_fields` and `milliseconds` are conforming variations (see VARIATIONS)."""
    order = {
        "uuid": row["uuid"],
        "amount": row["amount"],
        "currency": row["currency"],
        "title": row["title"],
        "description": row["description"],
        "status": row["status"],
        "period": row["period"],
    }
    for key, column in (("email", "email"), ("successUrl", "success_url"), ("failUrl", "fail_url")):
        if row[column] is not None:
            order[key] = row[column]  # left out when not given at creation
    created = row["created_at"]
    if milliseconds and "." not in created:
        created = created[:-1] + ".000Z"  # RFC 3339 with a fraction of a second
    order.update(paymentUrl=row["payment_url"], createdAt=created)
    if extra_fields:
        order.update(id=row["id"], customerId=row["customer_id"], savePaymentMethod=bool(row["save_payment_method"]))
    return order


def transaction_json(row: Any, order: Any, *, extra_fields: bool = False) -> dict[str, Any]:
    refundable = row["type"] == "sell" and not row["is_refunded"] and order["status"] == "paid"
    extra = {"orderUuid": order["uuid"], "fee": row["amount"] - row["total"]} if extra_fields else {}
    return {
        **extra,
        "id": row["id"],
        "type": row["type"],
        "amount": row["amount"],
        "currency": row["currency"],
        "total": row["total"],
        "createdAt": row["created_at"],
        "isRefunded": bool(row["is_refunded"]),
        "isRefundable": refundable,
    }
