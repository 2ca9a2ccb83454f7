"""Hand-written FastAPI + SQLAlchemy, the idiomatic way: AsyncSession, ORM rows, pydantic response models.

Same queries and the same JSON as arkos's generated find_many / find_one (page of `limit` rows
ordered by id, the total, page counters; camelCase keys).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from crud_apps.models import DATABASE_URL, Post

engine = create_async_engine(DATABASE_URL)
sessions = async_sessionmaker(engine, expire_on_commit=False)


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)
    id: str
    title: str
    content: str
    author_id: str = Field(serialization_alias="authorId")
    created_at: dt.datetime = Field(serialization_alias="createdAt")


class PostPage(BaseModel):
    total: int
    results: int
    page: int
    pages: int
    limit: int
    hasNextPage: bool
    hasPrevPage: bool
    data: list[PostOut]


class PostOne(BaseModel):
    data: PostOut


async def session() -> AsyncIterator[AsyncSession]:
    async with sessions() as s:
        yield s


app = FastAPI()


@app.get("/api/posts", response_model=PostPage, response_model_by_alias=True)
async def list_posts(limit: int = Query(30, ge=1, le=100), page: int = Query(1, ge=1),
                     s: AsyncSession = Depends(session)):
    total = await s.scalar(select(func.count()).select_from(Post))
    rows = (await s.scalars(select(Post).order_by(Post.id).limit(limit).offset((page - 1) * limit))).all()
    pages = max(math.ceil(total / limit), 1) if total else 0
    return PostPage(total=total, results=len(rows), page=page, pages=pages, limit=limit,
                    hasNextPage=page < pages, hasPrevPage=page > 1,
                    data=[PostOut.model_validate(r) for r in rows])


@app.get("/api/posts/{post_id}", response_model=PostOne, response_model_by_alias=True)
async def get_post(post_id: str, s: AsyncSession = Depends(session)):
    post = await s.get(Post, post_id)
    if post is None:
        raise HTTPException(404, "Not found")
    return PostOne(data=PostOut.model_validate(post))
