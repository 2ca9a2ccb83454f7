from arkos import ArkosPolicy

article_policy = (
    ArkosPolicy("article")
    .rule("View", "*")
    .rule("Create", ["Admin", "Editor"])
    .rule("Update", ["Admin", "Editor"])
    .rule("Delete", ["Admin"])
)
