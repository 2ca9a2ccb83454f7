"""Custom note routes: one guarded by a "*" rule, one reporting the `can_*` checks."""

from arkos import ArkosRouter, CurrentUser
from tests.dynamic_sample.modules.note.policy import note_policy

router = ArkosRouter()


@router.get("/api/notes/export", authentication=note_policy.Export)
async def export(user: CurrentUser) -> dict[str, object]:
    return {"data": {"exportedFor": user["username"]}}


@router.get("/api/notes/abilities", authentication=True)
async def abilities(user: CurrentUser) -> dict[str, object]:
    return {"data": {
        "canCreate": await note_policy.can_create(user),
        "canView": await note_policy.can_view(user),
        "canDelete": await note_policy.can_delete(user),
        "canExport": await note_policy.can_export(user),
    }}
