"""The arkos (Python) peer of the shared wrk harness: same tables, rows, users and routes as the others."""
