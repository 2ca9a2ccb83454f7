"""A small project used by the test suite: users, articles, comments, tags and a model with every column type."""
