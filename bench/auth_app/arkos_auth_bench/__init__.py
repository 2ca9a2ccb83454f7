"""App for bench/auth_cost.py: the same posts behind authentication (Post) and without it (OpenPost)."""
