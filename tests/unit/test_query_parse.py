"""The pure parts of query parsing: key splitting, page/limit math, control and unknown keys."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from arkos.config import QueryConfig
from arkos.crud.fields import build_model_info
from arkos.crud.query import ListQuery, parse_list_query, split_key
from arkos.errors import ArkosError
from tests.sample.models import Article, Comment, Gadget, Profile, User

REGISTRY = {model: build_model_info(model) for model in (Article, Comment, Gadget, Profile, User)}
ARTICLE = REGISTRY[Article]


def parse(items: Sequence[tuple[str, str]], config: QueryConfig | None = None, *,
          paginate: bool = True) -> ListQuery:
    return parse_list_query(ARTICLE, list(items), config or QueryConfig(), REGISTRY, paginate=paginate)


def refused(items: Sequence[tuple[str, str]], config: QueryConfig | None = None) -> ArkosError:
    with pytest.raises(ArkosError) as caught:
        parse(items, config)
    assert caught.value.status == 400
    assert caught.value.code == "InvalidQueryParameter"
    return caught.value


def sql(q: ListQuery) -> str:
    where = q.where()
    assert where is not None
    return str(where.compile(compile_kwargs={"literal_binds": True}))


# -- split_key -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "parts"), [
    ("title", ["title"]),
    ("price[gte]", ["price", "gte"]),
    ("price__gte", ["price", "gte"]),
    ("author[username][contains]", ["author", "username", "contains"]),
    ("author__username__contains", ["author", "username", "contains"]),
    ("author.username", ["author", "username"]),
    ("author[username]__contains", ["author", "username", "contains"]),
    ("in_stock__not", ["in_stock", "not"]),
    ("in_stock", ["in_stock"]),
    ("views[]", ["views"]),
    ("", []),
])
def test_split_key(key: str, parts: list[str]) -> None:
    assert split_key(key) == parts


# -- page and limit ------------------------------------------------------------------------------------


def test_defaults_are_page_1_and_the_default_limit() -> None:
    q = parse([])
    assert (q.page, q.limit, q.offset, q.filter_mode) == (1, 30, 0, "AND")
    assert not q.has_filter
    assert q.where() is None


@pytest.mark.parametrize(("page", "limit", "offset"), [("1", "10", 0), ("2", "10", 10), ("3", "7", 14),
                                                       ("10", "100", 900)])
def test_offset_is_page_minus_one_times_limit(page: str, limit: str, offset: int) -> None:
    q = parse([("page", page), ("limit", limit)])
    assert (q.page, q.limit, q.offset) == (int(page), int(limit), offset)


def test_the_default_limit_is_configurable() -> None:
    q = parse([("page", "2")], QueryConfig(default_limit=5))
    assert (q.limit, q.offset) == (5, 5)


def test_non_paginated_operations_have_no_limit() -> None:
    q = parse([("title", "x")], paginate=False)
    assert (q.limit, q.offset) == (None, 0)


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "", "101", " 5", "all", "²", "9" * 30])
def test_bad_limits_are_refused(raw: str) -> None:
    error = refused([("limit", raw)])
    assert error.meta == {"parameter": "limit"}


def test_a_huge_page_that_fits_is_accepted() -> None:
    assert parse([("page", str(2**31 - 1))]).page == 2**31 - 1


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "", "²", str(2**31), "9" * 30])
def test_bad_pages_are_refused(raw: str) -> None:
    error = refused([("page", raw)])
    assert error.meta == {"parameter": "page"}


def test_limit_above_a_configured_maximum_is_refused_and_the_maximum_is_accepted() -> None:
    config = QueryConfig(max_limit=20)
    assert parse([("limit", "20")], config).limit == 20
    assert "20" in refused([("limit", "21")], config).message


def test_limit_all_when_allowed_disables_pagination() -> None:
    q = parse([("limit", "all"), ("page", "3")], QueryConfig(allow_limit_all=True))
    assert (q.limit, q.offset) == (None, 0)


# -- control, filter and unknown keys ------------------------------------------------------------------


def test_control_keys_are_not_filters() -> None:
    q = parse([("page", "1"), ("limit", "5"), ("sort", "-title"), ("fields", "id,title"), ("filterMode", "AND"),
               ("search", "")])
    assert not q.has_filter
    assert [f.wire for f in q.fields] == ["id", "title"]


def test_any_other_key_is_a_filter() -> None:
    q = parse([("title", "x"), ("views[gt]", "3")])
    assert q.has_filter and len(q.conditions) == 2
    assert sql(q) == "articles.title = 'x' AND articles.views > 3"


def test_filter_mode_or_combines_with_or_and_search_still_narrows() -> None:
    q = parse([("title", "x"), ("views", "3"), ("filterMode", "or"), ("search", "abc")])
    assert q.filter_mode == "OR"
    text = sql(q)
    assert "articles.title = 'x' OR articles.views = 3" in text
    assert text.count(" AND ") == 1  # (a OR b) AND (search)


def test_search_alone_is_a_filter_over_text_fields() -> None:
    q = parse([("search", "hi")])
    assert q.has_filter and not q.conditions
    text = sql(q)
    assert "articles.title" in text and "articles.content" in text
    assert "articles.id" not in text and "author_id" not in text and "status" not in text


@pytest.mark.parametrize(("key", "named"), [
    ("nope", "nope"), ("views[between]", "between"), ("views[gt][lt]", "views[gt][lt]"),
    ("include", "include"), ("select", "select"), ("where", "where"), ("orderBy", "orderBy"),
    ("prismaQueryOptions", "prismaQueryOptions"), ("filters", "filters"), ("addFields", "addFields"),
    ("author[nope]", "nope"), ("password", "password"),
])
def test_unknown_keys_are_refused_naming_them(key: str, named: str) -> None:
    error = refused([(key, "1")])
    assert named in error.message
    assert error.meta == {"parameter": key}


def test_sort_appends_the_primary_key_for_stable_pages() -> None:
    q = parse([("sort", "-createdAt,title")])
    rendered = [str(clause) for clause in q.order_by]
    assert rendered == ["articles.created_at DESC", "articles.title ASC", "articles.id ASC"]
    assert [str(clause) for clause in parse([]).order_by] == ["articles.id ASC"]


def test_fields_minus_and_plus() -> None:
    q = parse([("fields", "-content,+author,+comments,+author")])
    assert "content" not in [f.wire for f in q.fields]
    assert [rel.wire for rel in q.includes] == ["author", "comments"]


def test_relation_filters_become_exists_subqueries() -> None:
    q = parse([("author[username]", "bob"), ("comments__body__contains", "hi")])
    text = sql(q)
    assert text.count("EXISTS") == 2
    assert "users.username = 'bob'" in text
    assert "password" not in text


def test_parsing_needs_no_database() -> None:
    """The query parser builds SQL expressions only; it never touches a connection."""
    q = parse([("views[in]", "1,2,3")])
    assert isinstance(q.conditions[0], sa.ColumnElement)
