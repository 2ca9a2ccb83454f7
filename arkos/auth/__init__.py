"""Authentication and authorization: tokens, passwords, the user model, the auth service and routes."""
