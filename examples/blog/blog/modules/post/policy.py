"""Who may do what with posts (static mode)."""

from arkos import ArkosPolicy

post_policy = (
    ArkosPolicy("post")
    .rule("Create", ["Admin", "Editor"])
    .rule("Update", ["Admin", "Editor"])
    .rule("Delete", ["Admin"])
    .rule("View", "*")
)
