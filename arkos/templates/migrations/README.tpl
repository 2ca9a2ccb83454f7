Alembic migrations of this arkos project (async env, URL and metadata from the arkos config).

  arkos db migrate -m "add posts"   # write a revision from the models
  arkos db upgrade                  # apply them (head by default)
  arkos db downgrade -1             # revert the last one
