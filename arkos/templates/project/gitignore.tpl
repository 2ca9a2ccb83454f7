.env
*.db
*.db-shm
*.db-wal
__pycache__/
.venv/
