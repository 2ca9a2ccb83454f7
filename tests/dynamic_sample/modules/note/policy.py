"""Roles written here matter in static mode only; in dynamic mode only "*" (Export) is honoured."""

from arkos import ArkosPolicy

note_policy = (
    ArkosPolicy("note")
    .rule("Create", ["Editor"])
    .rule("View", ["Reader", "Editor"])
    .rule("Update", ["Editor"])
    .rule("Delete", ["Admin"])
    .rule("Export", "*")
)
