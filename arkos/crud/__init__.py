"""Generated CRUD routes: field rules, query parsing, statements and handlers."""
