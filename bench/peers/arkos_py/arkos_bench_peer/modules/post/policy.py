"""The peers' policy: Editor may view / create / update posts; User nothing; super users everything."""

from arkos import ArkosPolicy

post_policy = (
    ArkosPolicy("post")
    .rule("View", ["Editor"])
    .rule("Create", ["Editor"])
    .rule("Update", ["Editor"])
)
