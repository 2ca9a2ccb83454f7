# {{ name }}

An [arkos](https://pypi.org/project/arkos/) API: SQLAlchemy models in `{{ package }}/models.py` become a
secured REST API.

```bash
arkos db push                         # create the tables (or: arkos db migrate -m "init" && arkos db upgrade)
arkos users create --superuser        # a first admin
arkos dev                             # http://127.0.0.1:8000/api/docs
```

- `arkos_config.py`: the arkos config (package, authentication, ...)
- `.env`: `JWT_SECRET` and `DATABASE_URL` for development (not committed)
- `{{ package }}/modules/<resource>/`: routers, interceptors and policies per model
- `arkos start --workers 4`: production (set `JWT_SECRET` and `DATABASE_URL` in the environment)
