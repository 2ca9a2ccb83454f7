"""Hand-written FastAPI + SQLAlchemy Core, tuned: prebuilt statements, one connection, orjson bytes.

The floor a careful hand-written endpoint reaches for the same query and JSON as arkos's generated
routes (arkos itself works on Core and answers with orjson).
"""

from __future__ import annotations

import math

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Query
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import create_async_engine

from crud_apps.models import DATABASE_URL, Post

engine = create_async_engine(DATABASE_URL)
t = Post.__table__
COLUMNS = (t.c.id.label("id"), t.c.title.label("title"), t.c.content.label("content"),
           t.c.author_id.label("authorId"), t.c.created_at.label("createdAt"))
KEYS = tuple(c.name for c in COLUMNS)
PAGE = (sa.select(*COLUMNS, sa.select(sa.func.count()).select_from(t).scalar_subquery().label("total"))
        .order_by(t.c.id).limit(sa.bindparam("limit")).offset(sa.bindparam("offset")))
ONE = sa.select(*COLUMNS).where(t.c.id == sa.bindparam("id")).limit(1)
OPT = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def _json(content: object, status: int = 200) -> Response:
    return Response(orjson.dumps(content, option=OPT), status_code=status, media_type="application/json")


app = FastAPI()


@app.get("/api/posts")
async def list_posts(limit: int = Query(30, ge=1, le=100), page: int = Query(1, ge=1)) -> Response:
    async with engine.connect() as conn:
        result = (await conn.execute(PAGE, {"limit": limit, "offset": (page - 1) * limit})).all()
        if result:
            total = result[0][-1]
        else:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one()
    pages = max(math.ceil(total / limit), 1) if total else 0
    return _json({"total": total, "results": len(result), "page": page, "pages": pages, "limit": limit,
                  "hasNextPage": page < pages, "hasPrevPage": page > 1,
                  "data": [dict(zip(KEYS, row)) for row in result]})


@app.get("/api/posts/{post_id}")
async def get_post(post_id: str) -> Response:
    async with engine.connect() as conn:
        row = (await conn.execute(ONE, {"id": post_id})).first()
    if row is None:
        return _json({"status": "fail", "code": "NotFound", "message": "Not found", "meta": {}}, 404)
    return _json({"data": dict(zip(KEYS, row))})
