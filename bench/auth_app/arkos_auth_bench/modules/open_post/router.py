"""The same reads as /api/posts, public: the authentication stage is skipped (and nothing else changes)."""

hook = {"find_many": {"authentication": False}, "find_one": {"authentication": False}}
