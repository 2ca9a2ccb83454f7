"""Who may do what with orders. `UpdateCompleted` and `Complete` are actions of our own: no route checks
them by itself; the interceptors and the /complete route ask `can_update_completed` / `Complete`."""

from arkos import ArkosPolicy

order_policy = (
    ArkosPolicy("order")
    .rule("Create", ["Staff", "Manager", "Customer"])
    .rule("View", ["Staff", "Manager"])
    .rule("Update", ["Staff", "Manager"])
    .rule("Delete", ["Manager"])
    .rule("UpdateCompleted", ["Manager"], name="Update Completed Order",
          description="Change an order after it was completed",
          error_message="Only managers can change a completed order")
    .rule("Complete", ["Manager"], name="Complete Order", description="Mark an order as completed",
          error_message="Only managers can complete an order")
)
