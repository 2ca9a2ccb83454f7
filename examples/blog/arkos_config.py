"""The demo's config: static permissions by default, `AUTH_MODE=dynamic` to try the database mode."""

import os

from arkos import define_config

config = define_config(
    package="blog",
    authentication={
        "mode": os.environ.get("AUTH_MODE", "static"),
        "login": {"send_access_token_through": "both", "allowed_usernames": ["username", "email"]},
    },
)
