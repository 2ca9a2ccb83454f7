"""{{ name }}: an arkos API."""
