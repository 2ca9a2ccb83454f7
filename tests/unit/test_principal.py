"""Principal: immutable, its fields read-only, shared by a token's requests only when nothing in it can change."""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import enum
import pickle
import uuid

import orjson
import pytest

from arkos import Principal
from arkos.auth.principal import UserFields
from arkos.routing.options import AccessRule


class Role(enum.Enum):
    Editor = "Editor"


def test_fields_are_read_only_and_copy_to_a_plain_dict() -> None:
    user = Principal(id=1, fields={"id": 1, "username": "ann"})
    assert isinstance(user.fields, UserFields)
    for change in (lambda f: f.__setitem__("username", "eve"), lambda f: f.__delitem__("id"),
                   lambda f: f.update(isSuperUser=True), lambda f: f.setdefault("isStaff", True),
                   lambda f: f.pop("id"), lambda f: f.popitem(), lambda f: f.clear()):
        with pytest.raises(TypeError, match="read-only"):
            change(user.fields)
    with pytest.raises(TypeError, match="read-only"):
        fields = user.fields
        fields |= {"isSuperUser": True}
    assert user.fields == {"id": 1, "username": "ann"}
    for plain in (dict(user.fields), user.fields.copy(), copy.copy(user.fields), copy.deepcopy(user.fields),
                  pickle.loads(pickle.dumps(user.fields))):
        assert type(plain) is dict and plain == {"id": 1, "username": "ann"}
        plain["username"] = "eve"  # a copy is the caller's own
    assert user["username"] == "ann" and user.get("missing", 7) == 7
    assert orjson.loads(orjson.dumps({"user": user.fields})) == {"user": {"id": 1, "username": "ann"}}
    with pytest.raises(AttributeError):
        user.is_super_user = True  # type: ignore[misc]


def test_for_request_shares_an_unchangeable_principal() -> None:
    user = Principal(id=1, roles=("Editor",), fields={"id": 1, "role": "Editor", "lastLoginAt": None})
    assert user.for_request() is user


def test_for_request_copies_what_a_request_could_change_in_place() -> None:
    user = Principal(id=1, roles=("Editor", "Author"),
                     fields={"id": 1, "roles": ["Editor", "Author"], "settings": {"theme": {"dark": True}},
                             "tags": {"a"}})
    mine = user.for_request()
    assert mine is not user and mine == user and isinstance(mine.fields, UserFields)
    mine["roles"].append("Admin")
    mine["settings"]["theme"]["dark"] = False
    mine["tags"].add("b")
    theirs = user.for_request()
    assert theirs["roles"] == ["Editor", "Author"]
    assert theirs["settings"] == {"theme": {"dark": True}} and theirs["tags"] == {"a"}
    assert user["roles"] == ["Editor", "Author"]


def test_static_rule_grants() -> None:
    assert AccessRule(("*",)).grants(())
    assert AccessRule(("Editor", "Admin")).grants(("Author", "Admin"))
    assert not AccessRule(("Editor",)).grants(("Author",))
    assert not AccessRule(()).grants(("Editor",))
    assert not AccessRule(("Editor",)).grants(())


def test_for_request_copies_every_value_not_known_to_be_immutable() -> None:
    """Not only dict/list/set: a bytearray, a custom object or a list inside a tuple could be changed in
    place too; only scalars (and tuples/frozensets of them) are shared between requests."""

    class Prefs:
        theme = "light"

    shared = Principal(id=1, fields={"id": 1, "name": "ann", "since": dt.datetime(2024, 1, 1), "score": 1.5,
                                     "code": uuid.uuid4(), "price": decimal.Decimal("1.10"), "day": dt.date.today(),
                                     "role": Role.Editor, "raw": b"x", "pair": ("a", ("b", 1)), "none": None})
    assert shared.for_request() is shared
    user = Principal(id=1, fields={"prefs": Prefs(), "blob": bytearray(b"x"), "tags": ("a", ["b"])})
    mine = user.for_request()
    assert mine is not user
    mine["prefs"].theme = "dark"
    mine["blob"][0] = ord("y")
    mine["tags"][1].append("c")
    theirs = user.for_request()
    assert theirs["prefs"].theme == "light" and theirs["blob"] == bytearray(b"x") and theirs["tags"] == ("a", ["b"])
