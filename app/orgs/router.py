"""JSON API for the unit tree, learner groups and imports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile, status
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import AdminOnly, AdminOrUnitAdmin, Public, SettingsDep
from app.auth.scope import scope_path
from app.core.ids import Id
from app.core.routes import path_choice
from app.db import SessionDep
from app.models import ImportKind, Unit
from app.openapi import errors
from app.orgs import imports, service
from app.orgs.schemas import (
    GroupIn,
    GroupOut,
    GroupPatch,
    ImportOut,
    UnitIn,
    UnitNode,
    UnitOut,
    UnitPatch,
)

router = APIRouter(tags=["units"])
path_choice("import_kind", ImportKind)  # {kind:import_kind}: learners or units only


def unit_out(unit: Unit) -> UnitOut:
    return UnitOut.model_validate(service.unit_out_fields(unit))


@router.get("/units", response_model=list[UnitNode], dependencies=[Depends(Public())])
def unit_tree(
    session: SessionDep,
    parent_id: Id | None = None,
    depth: Annotated[int, Query(ge=1, le=6)] = 2,
) -> list[UnitNode]:
    """The active unit tree from `parent_id` (or the top) down `depth` levels. Deeper levels
    are fetched by asking again with the child's id (`has_children` tells which)."""
    root = service.get_unit(session, parent_id) if parent_id is not None else None
    return service.unit_tree(session, root=root, max_depth=depth)


@router.get("/groups", response_model=list[GroupOut], dependencies=[Depends(Public())])
def groups(session: SessionDep) -> list[GroupOut]:
    return [GroupOut.model_validate(g) for g in service.list_groups(session)]


@router.get("/admin/units", response_model=list[UnitOut], tags=["admin"])
def admin_units(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    parent_id: Id | None = None,
) -> list[UnitOut]:
    """Units inside the caller's scope (a unit admin sees its own subtree only)."""
    units = service.list_units(
        session, scope_prefix=scope_path(principal), parent_id=parent_id, q=q
    )
    return [unit_out(u) for u in units]


@router.get("/admin/units/{unit_id}", response_model=UnitOut, tags=["admin"])
def admin_unit(unit_id: Id, principal: AdminOrUnitAdmin, session: SessionDep) -> UnitOut:
    return unit_out(service.get_unit_in_scope(session, principal, unit_id))


@router.post(
    "/admin/units",
    response_model=UnitOut,
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    responses=errors(404, 409),
)
def create_unit(body: UnitIn, principal: AdminOrUnitAdmin, session: SessionDep) -> UnitOut:
    unit = service.add_unit(
        session,
        actor=principal,
        code=body.code,
        name=body.name,
        type=body.type,
        parent_id=body.parent_id,
    )
    return unit_out(unit)


@router.patch("/admin/units/{unit_id}", response_model=UnitOut, tags=["admin"])
def update_unit(
    unit_id: Id, body: UnitPatch, principal: AdminOrUnitAdmin, session: SessionDep
) -> UnitOut:
    """Rename, retype, move (`parent_id`; null = top level, admins only) or (de)activate."""
    unit = service.change_unit(
        session, actor=principal, unit_id=unit_id, changes=body.model_dump(exclude_unset=True)
    )
    return unit_out(unit)


@router.post(
    "/admin/groups",
    response_model=GroupOut,
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    responses=errors(409),
)
def create_group(body: GroupIn, principal: AdminOnly, session: SessionDep) -> GroupOut:
    group = service.add_group(
        session,
        actor=principal,
        code=body.code,
        name=body.name,
        description=body.description,
        sort_order=body.sort_order,
    )
    return GroupOut.model_validate(group)


@router.patch("/admin/groups/{group_id}", response_model=GroupOut, tags=["admin"])
def update_group(
    group_id: Id, body: GroupPatch, principal: AdminOnly, session: SessionDep
) -> GroupOut:
    group = service.change_group(
        session, actor=principal, group_id=group_id, changes=body.model_dump(exclude_unset=True)
    )
    return GroupOut.model_validate(group)


@router.post(
    "/admin/imports/{kind:import_kind}",
    response_model=ImportOut,
    tags=["admin"],
    responses=errors(405),
)
async def create_import(
    kind: ImportKind,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV (UTF-8) or XLSX")],
    import_valid_rows: Annotated[bool, Form()] = False,
    dry_run: Annotated[bool, Form()] = False,
) -> ImportOut:
    """Import units or learners. A file with errors writes nothing (422 with the row report)
    unless `import_valid_rows` is set; `dry_run` only checks."""
    data = await file.read(settings.import_max_bytes + 1)
    result = await run_in_threadpool(
        imports.run_import,
        session,
        actor=principal,
        kind=kind,
        filename=file.filename or "",
        data=data,
        settings=settings,
        import_valid_rows=import_valid_rows,
        dry_run=dry_run,
    )
    if result.rejected:
        raise result.rejection()
    return result.out()


@router.get("/admin/imports", response_model=list[ImportOut], tags=["admin"])
def list_imports(principal: AdminOrUnitAdmin, session: SessionDep) -> list[ImportOut]:
    return [imports.import_out(j) for j in imports.list_jobs(session, actor=principal)]


@router.get(
    "/admin/imports/{import_id:int}",
    response_model=ImportOut,
    tags=["admin"],
    responses=errors(405),
)
def get_import(import_id: Id, principal: AdminOrUnitAdmin, session: SessionDep) -> ImportOut:
    return imports.import_out(imports.get_job(session, actor=principal, job_id=import_id))
