"""Apps for bench/crud_vs_handwritten.py: arkos's generated routes and two hand-written FastAPI apps."""
