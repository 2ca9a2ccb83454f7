# Local settings for development; never commit this file.
JWT_SECRET={{ jwt_secret }}
DATABASE_URL=sqlite+aiosqlite:///./app.db
