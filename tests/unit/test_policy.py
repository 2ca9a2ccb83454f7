"""ArkosPolicy and arkos.auth.permission: immutable rules, requirements and `can_*` (reference §4.1, §4.2)."""

from __future__ import annotations

import enum

import pytest

from arkos import ArkosError, ArkosPolicy, Principal, define_config
from arkos.auth import permission
from arkos.auth.revocation import DatabaseRevocations
from arkos.auth.service import AuthService
from arkos.auth.tokens import TokenService
from arkos.routing.options import AccessRule, Requirement, normalize_rule

SECRET = "policy-test-secret-" + "p" * 40
WILDCARDS = ["*", ["*"], {"roles": "*"}, {"roles": ["*"]}]


class Role(enum.Enum):
    Admin = "Admin"
    Editor = "Editor"


@pytest.fixture
def service() -> AuthService:
    config = define_config(env_file=None, authentication={"mode": "static", "jwt": {"secret": SECRET}})
    return AuthService(config, None, TokenService(config.authentication.jwt), DatabaseRevocations())


def user(service: AuthService, *roles: str, is_super_user: bool = False) -> Principal:
    return Principal(id="u1", roles=roles, is_super_user=is_super_user, decider=service.decide)


# -- immutability and attributes -----------------------------------------------------------------------------


def test_rule_returns_a_new_policy_and_leaves_the_original_unchanged() -> None:
    empty = ArkosPolicy("post")
    one = empty.rule("Create", ["Admin"])
    two = one.rule("View", "*")
    assert empty is not one and one is not two
    assert dict(empty.rules) == {}
    assert list(one.rules) == ["Create"]
    assert list(two.rules) == ["Create", "View"]
    assert two.resource == "post"


def test_rules_mapping_is_read_only() -> None:
    policy = ArkosPolicy("post").rule("Create", ["Admin"])
    with pytest.raises(TypeError):
        policy.rules["Delete"] = AccessRule(("Admin",))  # type: ignore[index]
    assert "Delete" not in policy.rules


def test_redefining_an_action_replaces_its_rule_in_the_new_policy_only() -> None:
    first = ArkosPolicy("post").rule("Create", ["Admin"])
    second = first.rule("Create", ["Editor"])
    assert first.Create.rule.roles == ("Admin",)
    assert second.Create.rule.roles == ("Editor",)


def test_action_attribute_is_a_route_requirement() -> None:
    policy = ArkosPolicy("post").rule("Create", ["Admin", "Editor"])
    assert policy.Create == Requirement(resource="post", action="Create",
                                        rule=AccessRule(("Admin", "Editor")))
    assert policy.Create.authorizes
    assert policy.requirement("Create") == policy.Create


def test_enum_roles_count_by_value() -> None:
    policy = ArkosPolicy("post").rule("Create", [Role.Admin, Role.Editor])
    assert policy.Create.rule.roles == ("Admin", "Editor")


def test_detailed_rule_text_from_keywords_or_from_a_dict() -> None:
    by_keywords = ArkosPolicy("post").rule("Publish", ["Editor"], name="Publish posts",
                                           description="Make a post public",
                                           error_message="Only editors publish")
    by_dict = ArkosPolicy("post").rule("Publish", {"roles": ["Editor"], "name": "Publish posts",
                                                   "description": "Make a post public",
                                                   "errorMessage": "Only editors publish"})
    assert by_keywords.Publish == by_dict.Publish
    assert by_dict.Publish.rule == AccessRule(("Editor",), name="Publish posts",
                                              description="Make a post public",
                                              error_message="Only editors publish")
    assert by_dict.Publish.denial_message() == "Only editors publish"
    assert by_dict.Publish.display_name() == "Publish posts"


def test_default_texts_come_from_action_and_resource() -> None:
    requirement = ArkosPolicy("blog-post").rule("GenerateReport", ["Admin"]).GenerateReport
    assert requirement.display_name() == "Generate Report Blog Post"
    assert requirement.denial_message() == "You cannot perform generate report for blog post"


def test_can_names_are_the_snake_case_of_the_action() -> None:
    policy = (ArkosPolicy("order").rule("UpdateCompleted", ["Manager"]).rule("View", "*")
              .rule("GenerateReport", []))
    assert policy.can_update_completed.__name__ == "can_update_completed"
    assert callable(policy.can_view)
    assert callable(policy.can_generate_report)
    assert policy.UpdateCompleted.action == "UpdateCompleted"


@pytest.mark.parametrize("name", ["Delete", "can_delete", "can_updatecompleted", "can_UpdateCompleted",
                                  "canUpdateCompleted", "update_completed"])
def test_unknown_action_or_checker_raises_attribute_error(name: str) -> None:
    policy = ArkosPolicy("order").rule("UpdateCompleted", ["Manager"])
    with pytest.raises(AttributeError, match="has no rule"):
        getattr(policy, name)
    assert not hasattr(policy, name)


def test_a_policy_without_rules_has_no_checkers() -> None:
    policy = ArkosPolicy("post")
    assert not hasattr(policy, "can_create")
    assert not hasattr(policy, "Create")
    assert repr(policy) == "ArkosPolicy('post', actions=[])"


# -- can_* checks --------------------------------------------------------------------------------------------


async def test_can_with_no_user_is_login_required() -> None:
    policy = ArkosPolicy("post").rule("Create", ["Admin"])
    with pytest.raises(ArkosError) as caught:
        await policy.can_create(None)
    assert caught.value.code == "LoginRequired"
    assert caught.value.status == 401


async def test_can_follows_the_rule_roles(service: AuthService) -> None:
    policy = ArkosPolicy("post").rule("Create", ["Admin", "Editor"]).rule("Delete", ["Admin"])
    editor = user(service, "Editor")
    assert await policy.can_create(editor) is True
    assert await policy.can_delete(editor) is False
    assert await policy.can_create(user(service, "User")) is False
    assert await policy.can_create(user(service, "User", "Editor")) is True  # any of several roles
    assert await policy.can_create(user(service, "editor")) is False  # case-sensitive, like the reference


async def test_can_without_roles_is_super_users_only(service: AuthService) -> None:
    policy = ArkosPolicy("post").rule("Update")
    assert await policy.can_update(user(service, "Admin")) is False
    assert await policy.can_update(user(service)) is False
    assert await policy.can_update(user(service, is_super_user=True)) is True


async def test_super_user_passes_every_check_even_without_a_role(service: AuthService) -> None:
    policy = ArkosPolicy("post").rule("Delete", ["Admin"])
    assert await policy.can_delete(user(service, is_super_user=True)) is True
    assert await policy.can_delete(Principal(id="u", is_super_user=True)) is True  # no decider needed


async def test_user_with_no_role_is_denied_not_an_error(service: AuthService) -> None:
    policy = ArkosPolicy("post").rule("Create", ["Admin"])
    assert await policy.can_create(user(service)) is False


async def test_staff_flag_grants_nothing(service: AuthService) -> None:
    policy = ArkosPolicy("post").rule("Create", ["Admin"])
    staff = Principal(id="s", is_staff=True, roles=("User",), decider=service.decide)
    assert await policy.can_create(staff) is False


@pytest.mark.parametrize("form", WILDCARDS, ids=["star", "list", "roles-star", "roles-list"])
async def test_every_wildcard_form_allows_any_authenticated_user(service: AuthService, form: object) -> None:
    policy = ArkosPolicy("post").rule("View", form)
    assert policy.View.rule.roles == ("*",)
    assert await policy.can_view(user(service)) is True
    assert await policy.can_view(user(service, "User")) is True


async def test_update_completed_checker(service: AuthService) -> None:
    policy = ArkosPolicy("order").rule("Update", ["Staff", "Manager"]).rule("UpdateCompleted", ["Manager"])
    staff, manager = user(service, "Staff"), user(service, "Manager")
    assert await policy.can_update(staff) is True
    assert await policy.can_update_completed(staff) is False
    assert await policy.can_update_completed(manager) is True


# -- arkos.auth.permission -----------------------------------------------------------------------------------


async def test_permission_with_a_list_applies_to_every_action(service: AuthService) -> None:
    for action in ("Create", "View", "Delete"):
        check = permission(action, "post", ["Editor"])
        assert await check(user(service, "Editor")) is True
        assert await check(user(service, "User")) is False


async def test_permission_with_a_dict_is_looked_up_by_action(service: AuthService) -> None:
    access_control = {"Create": ["Editor"], "View": "*", "Delete": {"roles": ["Admin"]}}
    editor = user(service, "Editor")
    assert await permission("Create", "post", access_control)(editor) is True
    assert await permission("View", "post", access_control)(user(service)) is True
    assert await permission("Delete", "post", access_control)(editor) is False
    assert await permission("Delete", "post", access_control)(user(service, "Admin")) is True
    assert await permission("Update", "post", access_control)(editor) is False  # missing action: deny


async def test_permission_without_access_control_is_super_users_only(service: AuthService) -> None:
    check = permission("Create", "post")
    assert await check(user(service, "Admin")) is False
    assert await check(user(service, is_super_user=True)) is True


async def test_permission_with_no_user_is_login_required() -> None:
    with pytest.raises(ArkosError) as caught:
        await permission("Create", "post", ["Admin"])(None)
    assert caught.value.code == "LoginRequired"


# -- rule spellings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "roles"), [
    (None, ()),
    ([], ()),
    ("Admin", ("Admin",)),
    (["Admin", "Editor"], ("Admin", "Editor")),
    (("Admin",), ("Admin",)),
    ({"roles": ["Admin"]}, ("Admin",)),
    ({}, ()),
])
def test_normalize_rule_spellings(rule: object, roles: tuple[str, ...]) -> None:
    assert normalize_rule(rule).roles == roles


@pytest.mark.parametrize("rule", [{"role": ["Admin"]}, {"roles": ["Admin"], "message": "x"}, 42])
def test_normalize_rule_refuses_unknown_shapes(rule: object) -> None:
    with pytest.raises(ValueError):
        normalize_rule(rule)


def test_policy_rule_refuses_unknown_shapes() -> None:
    with pytest.raises(ValueError, match="unknown access rule key"):
        ArkosPolicy("post").rule("Create", {"role": "Admin"})
