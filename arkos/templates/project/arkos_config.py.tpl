"""{{ name }}: the arkos config. Secrets and URLs come from the environment and `.env`."""

from arkos import define_config

config = define_config(
    package="{{ package }}",
    authentication={"mode": "static"},
)
