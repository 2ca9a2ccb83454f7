"""Authentication and authorization: tokens, passwords, the user model, the auth service and routes."""

from arkos.auth.auth_config import permission

__all__ = ["permission"]
