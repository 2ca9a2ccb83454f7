"""Names: snake_case in Python, camelCase on the wire, kebab-case plurals in URLs."""

from __future__ import annotations

import pytest

from arkos.naming import pluralize, sentence, title, to_camel, to_kebab, to_snake


@pytest.mark.parametrize(("snake", "camel"), [
    ("id", "id"),
    ("created_at", "createdAt"),
    ("is_super_user", "isSuperUser"),
    ("api_secret", "apiSecret"),
    ("deleted_self_account_at", "deletedSelfAccountAt"),
    ("address_line_2", "addressLine2"),
    ("createdAt", "createdAt"),  # already camel: unchanged
])
def test_to_camel(snake: str, camel: str) -> None:
    assert to_camel(snake) == camel


@pytest.mark.parametrize(("name", "snake"), [
    ("id", "id"),
    ("createdAt", "created_at"),
    ("isSuperUser", "is_super_user"),
    ("BlogPost", "blog_post"),
    ("blog-post", "blog_post"),
    ("HTTPServer", "http_server"),
    ("userID", "user_id"),
    ("UpdateCompleted", "update_completed"),
    ("created_at", "created_at"),  # already snake: unchanged
])
def test_to_snake(name: str, snake: str) -> None:
    assert to_snake(name) == snake


@pytest.mark.parametrize("wire", ["createdAt", "isSuperUser", "passwordChangedAt", "authorId"])
def test_camel_and_snake_round_trip(wire: str) -> None:
    assert to_camel(to_snake(wire)) == wire


@pytest.mark.parametrize(("model", "kebab"), [
    ("User", "user"),
    ("BlogPost", "blog-post"),
    ("UserProfile", "user-profile"),
    ("AuthPermission", "auth-permission"),
    ("FileUpload", "file-upload"),
])
def test_to_kebab(model: str, kebab: str) -> None:
    assert to_kebab(model) == kebab


@pytest.mark.parametrize(("word", "plural"), [
    ("user", "users"),
    ("article", "articles"),
    ("gadget", "gadgets"),
    ("category", "categories"),
    ("day", "days"),
    ("key", "keys"),
    ("box", "boxes"),
    ("status", "statuses"),
    ("address", "addresses"),
    ("church", "churches"),
    ("dish", "dishes"),
    ("blog-post", "blog-posts"),
    ("user-profile", "user-profiles"),
    ("product-category", "product-categories"),
    ("Category", "Categories"),
])
def test_pluralize(word: str, plural: str) -> None:
    assert pluralize(word) == plural


def test_route_names_of_the_sample_models() -> None:
    assert [pluralize(to_kebab(m)) for m in ("Article", "Comment", "UserProfile", "AuthRole")] == [
        "articles", "comments", "user-profiles", "auth-roles"]


def test_sentence_and_title() -> None:
    assert sentence("UpdateCompleted") == "update completed"
    assert sentence("View") == "view"
    assert title("generate_report") == "Generate Report"
    assert title("GenerateReport") == "Generate Report"
