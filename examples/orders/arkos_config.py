"""The orders example's config: static permissions, roles Staff / Manager / Customer."""

from arkos import define_config

config = define_config(
    package="orders",
    authentication={"mode": "static"},
)
