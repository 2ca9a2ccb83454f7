"""The arkos demo: a blog with users, posts and comments."""
