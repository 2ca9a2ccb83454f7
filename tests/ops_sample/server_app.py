"""The app the operations server tests run under uvicorn, configured from the environment:
OPS_DATABASE_URL, OPS_SCHEMA (PostgreSQL), OPS_JWT_SECRET, OPS_UPLOAD_DIR, OPS_MARK_DIR."""

import os

import arkos
from tests.ops_sample.models import Base

app = arkos.init(
    env_file=None,
    models=Base,
    package="tests.ops_sample",
    database={"url": os.environ["OPS_DATABASE_URL"], "schema_name": os.environ.get("OPS_SCHEMA") or None,
              "pool_timeout_seconds": 2},
    authentication={"mode": "static", "jwt": {"secret": os.environ["OPS_JWT_SECRET"]}, "bcrypt_rounds": 4},
    file_upload={"base_upload_dir": os.environ["OPS_UPLOAD_DIR"]},
    rate_limit={"enabled": False},
)
