from arkos import ArkosPolicy

post_policy = ArkosPolicy("post").rule("View", ["Editor"]).rule("Create", ["Editor"]).rule("Update", ["Editor"])
