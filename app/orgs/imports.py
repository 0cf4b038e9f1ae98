"""Import units and learners from CSV/XLSX: every row checked, a report per row, nothing
written from a file with errors unless the good rows are asked for, and idempotent."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.scope import scope_path
from app.auth.service import Principal, temporary_password
from app.config import Settings
from app.core.audit import record_audit
from app.core.errors import Invalid, NotFound
from app.core.security import hash_temporary_password
from app.core.text import fold
from app.core.validation import normalize_code, normalize_email, normalize_name, normalize_phone
from app.models import (
    ROLE_LABELS,
    UNIT_TYPE_LABELS,
    ImportJob,
    ImportKind,
    ImportStatus,
    LearnerGroup,
    Role,
    Unit,
    UnitType,
    User,
)
from app.orgs import service as orgs
from app.orgs.schemas import Credential, ImportOut, ImportRowError
from app.orgs.tabular import Row, read_table
from app.privacy.anonymous import is_anonymised

UNIT_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("ma", "ma_don_vi", "code"),
    "name": ("ten", "ten_don_vi", "name"),
    "type": ("loai", "loai_don_vi", "type"),
    "parent_code": ("ma_cap_tren", "ma_don_vi_cap_tren", "parent_code", "parent"),
}
UNIT_REQUIRED = ("code", "name", "type")

LEARNER_COLUMNS: dict[str, tuple[str, ...]] = {
    "full_name": ("ho_ten", "ho_va_ten", "full_name", "name"),
    "phone": ("so_dien_thoai", "dien_thoai", "sdt", "phone"),
    "email": ("email", "thu_dien_tu", "e_mail"),
    "unit_code": ("ma_don_vi", "don_vi", "unit_code", "unit"),
    "group": ("nhom", "nhom_hoc_vien", "group", "group_code"),
    "role": ("vai_tro", "role"),
}
LEARNER_REQUIRED = ("full_name", "unit_code")

# The files an administrator downloads to fill in (the first alias of each column).
UNIT_TEMPLATE = "ma,ten,loai,ma_cap_tren\r\nXA-DONGTAM,Xã Đồng Tâm,xã,\r\n"
LEARNER_TEMPLATE = (
    "ho_ten,so_dien_thoai,email,ma_don_vi,nhom,vai_tro\r\n"
    "Nguyễn Thị Hoa,0912 345 678,,XA-DONGTAM,Nông dân,học viên\r\n"
)

_TYPE_WORDS: dict[str, UnitType] = {
    "tinh": UnitType.province,
    "thanh pho": UnitType.province,
    "tinh thanh pho": UnitType.province,
    "xa": UnitType.commune,
    "phuong": UnitType.ward,
    "dac khu": UnitType.special_zone,
    "thon": UnitType.hamlet,
    "xom": UnitType.hamlet,
    "ap": UnitType.hamlet,
    "ban": UnitType.hamlet,
    "lang": UnitType.hamlet,
    "to dan pho": UnitType.residential_group,
    "khu pho": UnitType.residential_group,
    "co quan": UnitType.agency,
    "truong": UnitType.school,
    "truong hoc": UnitType.school,
    "tram y te": UnitType.clinic,
    "y te": UnitType.clinic,
    "doanh nghiep": UnitType.business,
    "cong ty": UnitType.business,
    "hop tac xa": UnitType.cooperative,
    "htx": UnitType.cooperative,
    "khac": UnitType.other,
}
_ROLE_WORDS: dict[str, Role] = {
    "hoc vien": Role.learner,
    "learner": Role.learner,
    "nguoi huong dan": Role.mentor,
    "mentor": Role.mentor,
    "quan tri don vi": Role.unit_admin,
    "unit_admin": Role.unit_admin,
}


# `mentor` comes from a mentorship (app.mentoring.mentors); a row may keep it for an
# account that is already a mentor, never give it.
MENTOR_ROLE_MESSAGE = (
    "Không giao được vai trò người hướng dẫn qua tệp nhập: người học trở thành người hướng "
    "dẫn khi đăng ký hướng dẫn một bậc và được quản trị đơn vị xác nhận."
)
ANONYMISED_ROW = (
    "Tài khoản này đã bị xoá thông tin cá nhân theo yêu cầu của người học và không thể "
    "cập nhật hay mở lại qua tệp nhập."
)


@dataclass
class ImportResult:
    job: ImportJob
    errors: list[dict[str, Any]]
    credentials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return self.job.status == ImportStatus.rejected

    def rejection(self) -> Invalid:
        """The 422 the API answers for a rejected file; the job record is committed."""
        return Invalid(
            f"Tệp có {self.job.error_count} dòng lỗi nên chưa nhập gì. Hãy sửa các dòng lỗi, "
            "hoặc chọn chỉ nhập các dòng hợp lệ.",
            code="import_rejected",
            keep_changes=True,
            extra={"import": self.out().model_dump(mode="json")},
        )

    def out(self) -> ImportOut:
        return import_out(self.job, self.credentials)


def import_out(job: ImportJob, credentials: list[dict[str, Any]] | None = None) -> ImportOut:
    return ImportOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        filename=job.filename,
        total_rows=job.total_rows,
        created=job.created_count,
        updated=job.updated_count,
        unchanged=job.unchanged_count,
        errors=[ImportRowError(**e) for e in job.errors],
        credentials=[Credential(**c) for c in credentials or []],
        created_at=job.created_at,
    )


def run_import(
    session: Session,
    *,
    actor: Principal,
    kind: ImportKind,
    filename: str,
    data: bytes,
    settings: Settings,
    import_valid_rows: bool = False,
    dry_run: bool = False,
) -> ImportResult:
    """Import a file as `actor`, inside its scope. A file with errors is recorded as
    `rejected` with its row report and nothing else is written (unless the good rows were
    asked for); a file that cannot be read at all raises Invalid and records nothing."""
    common: dict[str, Any] = {
        "filename": filename,
        "data": data,
        "actor_id": actor.user.id,
        "scope_prefix": scope_path(actor),
        "import_valid_rows": import_valid_rows,
        "dry_run": dry_run,
        "max_bytes": settings.import_max_bytes,
        "max_rows": settings.import_max_rows,
    }
    if kind == ImportKind.units:
        result = import_units(session, **common)
    else:
        result = import_learners(session, actor_role=actor.user.role, **common)
    return result


def list_jobs(session: Session, *, actor: Principal, limit: int = 100) -> Sequence[ImportJob]:
    return session.scalars(
        select(ImportJob)
        .where(ImportJob.unit_path.startswith(scope_path(actor)))
        .order_by(ImportJob.id.desc())
        .limit(limit)
    ).all()


def get_job(session: Session, *, actor: Principal, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None or not job.unit_path.startswith(scope_path(actor)):
        raise NotFound("Không tìm thấy lần nhập này.")
    return job


def parse_unit_type(raw: str) -> UnitType:
    value = raw.strip()
    try:
        return UnitType(value)
    except ValueError:
        pass
    folded = fold(value)
    for member, label in UNIT_TYPE_LABELS.items():
        if folded == fold(label):
            return member
    if folded in _TYPE_WORDS:
        return _TYPE_WORDS[folded]
    raise ValueError(
        f"Loại đơn vị “{raw}” không hợp lệ (ví dụ: xã, phường, thôn, tổ dân phố, cơ quan)."
    )


def _columns(
    header: list[str], spec: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> dict[str, str]:
    found: dict[str, str] = {}
    for canonical, aliases in spec.items():
        for alias in aliases:
            if alias in header:
                found[canonical] = alias
                break
    missing = [spec[c][0] for c in required if c not in found]
    if missing:
        raise Invalid(
            "Thiếu cột bắt buộc: "
            + ", ".join(missing)
            + ". Dòng đầu tiên của tệp phải là tên cột.",
            code="bad_header",
        )
    return found


# Header words of a national ID number column (keys as tabular.header_key folds them):
# "CCCD", "Số CMND", "Căn cước công dân", "Số định danh cá nhân", "ID number", ...
_ID_TOKENS = frozenset({"cccd", "cmnd", "cmt", "cmtnd"})
_ID_PHRASES = ("can_cuoc", "dinh_danh", "chung_minh", "id_number", "national_id", "id_card")


def refuse_id_columns(header: list[str]) -> None:
    """The platform does not collect national ID numbers: a file with such a column is
    refused as a whole, before anything from it is read or recorded (docs/privacy.md)."""
    for key in header:
        tokens = set(key.split("_"))
        if tokens & _ID_TOKENS or any(phrase in key for phrase in _ID_PHRASES):
            raise Invalid(
                f"Tệp có cột “{key}” giống số căn cước công dân/CMND. Nền tảng không thu thập "
                "số định danh cá nhân: hãy xoá cột này khỏi tệp rồi tải lên lại.",
                code="id_column",
            )


def _get(row: Row, cols: dict[str, str], name: str) -> str:
    column = cols.get(name)
    return row.values.get(column, "").strip() if column else ""


def _finish(
    session: Session,
    *,
    kind: ImportKind,
    filename: str,
    data: bytes,
    actor_id: int,
    scope_prefix: str,
    total: int,
    errors: list[dict[str, Any]],
    counts: dict[str, int],
    dry_run: bool,
    wrote: bool,
) -> ImportJob:
    if dry_run:
        status = ImportStatus.checked
    elif errors and not wrote:
        status = ImportStatus.rejected
    elif errors:
        status = ImportStatus.partial
    else:
        status = ImportStatus.applied
    job = ImportJob(
        kind=kind,
        status=status,
        filename=filename[:255],
        file_sha256=hashlib.sha256(data).hexdigest(),
        created_by_id=actor_id,
        unit_path=scope_prefix,
        total_rows=total,
        created_count=counts.get("created", 0),
        updated_count=counts.get("updated", 0),
        unchanged_count=counts.get("unchanged", 0),
        error_count=len(errors),
        errors=sorted(errors, key=lambda e: e["line"]),
    )
    session.add(job)
    session.flush()
    record_audit(
        session,
        actor_id=actor_id,
        action=f"import.{kind.value}",
        target_type="import",
        target_id=job.id,
        unit_path=scope_prefix,
        details={"status": status.value, **counts, "errors": len(errors)},
    )
    return job


@dataclass
class _UnitRow:
    row: Row
    name: str
    type: UnitType
    parent_code: str | None  # None: the file has no parent column (existing units stay put)


def _load_units_with_ancestors(session: Session, codes: set[str]) -> dict[str, Unit]:
    """The units named by `codes` and every ancestor of theirs, by code."""
    units = {u.code: u for u in session.scalars(select(Unit).where(Unit.code.in_(codes)))}
    ancestor_ids = {i for u in units.values() for i in u.path_ids} - {u.id for u in units.values()}
    if ancestor_ids:
        for unit in session.scalars(select(Unit).where(Unit.id.in_(ancestor_ids))):
            units[unit.code] = unit
    return units


def import_units(
    session: Session,
    *,
    filename: str,
    data: bytes,
    actor_id: int,
    scope_prefix: str,
    import_valid_rows: bool = False,
    dry_run: bool = False,
    max_bytes: int,
    max_rows: int,
) -> ImportResult:
    header, rows = read_table(filename, data, max_bytes=max_bytes, max_rows=max_rows)
    cols = _columns(header, UNIT_COLUMNS, UNIT_REQUIRED)
    has_parent_column = "parent_code" in cols
    errors: dict[int, str] = {}
    parsed: dict[str, _UnitRow] = {}

    for row in rows:
        try:
            code = normalize_code(_get(row, cols, "code"))
            name = normalize_name(_get(row, cols, "name"), max_length=200, label="Tên đơn vị")
            utype = parse_unit_type(_get(row, cols, "type"))
            parent_raw = _get(row, cols, "parent_code")
            parent_code = normalize_code(parent_raw) if parent_raw else ""
        except ValueError as exc:
            errors[row.line] = str(exc)
            continue
        if code in parsed:
            errors[row.line] = f"Mã đơn vị “{code}” bị lặp (đã có ở dòng {parsed[code].row.line})."
            continue
        if parent_code == code:
            errors[row.line] = "Đơn vị không thể là cấp trên của chính nó."
            continue
        parsed[code] = _UnitRow(row, name, utype, parent_code if has_parent_column else None)

    wanted = set(parsed) | {p.parent_code for p in parsed.values() if p.parent_code}
    known = _load_units_with_ancestors(session, wanted)
    code_of = {u.id: u.code for u in known.values()}

    def final_parent(code: str) -> str:
        """A unit's parent code once the file is applied."""
        if code in parsed and parsed[code].parent_code is not None:
            return parsed[code].parent_code or ""
        unit = known.get(code)
        return code_of.get(unit.parent_id, "") if unit and unit.parent_id else ""

    # A cycle in the tree as it would be after the import: rows of the file among
    # themselves, or an existing unit hung under one of its own descendants.
    for code, item in parsed.items():
        chain, current = [code], final_parent(code)
        while current and current not in chain and len(chain) <= len(known) + len(parsed):
            chain.append(current)
            current = final_parent(current)
        if current == code:
            errors[item.row.line] = "Vòng lặp cấp trên: " + " → ".join([*chain, code]) + "."

    # Each row's place in the tree, parents first; scope and failed parents reported.
    order: list[str] = []
    state: dict[str, bool] = {}  # code -> row is good

    def visit(code: str) -> bool:
        if code in state:
            return state[code]
        item = parsed[code]
        state[code] = False  # a cycle back here fails (it was reported above)
        ok = item.row.line not in errors
        parent_code = item.parent_code
        unit = known.get(code)
        if ok and parent_code and parent_code in parsed:
            if not visit(parent_code):
                parent_line = parsed[parent_code].row.line
                errors[item.row.line] = (
                    f"Đơn vị cấp trên “{parent_code}” (dòng {parent_line}) bị lỗi."
                )
                ok = False
        elif ok and parent_code and parent_code not in known:
            errors[item.row.line] = f"Không tìm thấy đơn vị cấp trên có mã “{parent_code}”."
            ok = False
        elif ok and parent_code and not known[parent_code].path.startswith(scope_prefix):
            errors[item.row.line] = (
                f"Đơn vị cấp trên “{parent_code}” nằm ngoài phạm vi quản lý của bạn."
            )
            ok = False
        elif ok and not parent_code and scope_prefix and (unit is None or parent_code == ""):
            errors[item.row.line] = (
                "Quản trị đơn vị chỉ được thêm đơn vị bên trong đơn vị của mình (cần mã cấp trên)."
            )
            ok = False
        if ok and unit is not None and not unit.path.startswith(scope_prefix):
            errors[item.row.line] = f"Đơn vị “{code}” đã có và nằm ngoài phạm vi quản lý của bạn."
            ok = False
        state[code] = ok
        if ok:
            order.append(code)
        return ok

    for code in parsed:
        visit(code)

    error_list = [{"line": line, "message": msg} for line, msg in errors.items()]
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    write = not dry_run and (not errors or import_valid_rows)
    for code in order:
        item = parsed[code]
        unit = known.get(code)
        if item.parent_code is None:
            parent = known.get(final_parent(code)) if unit is not None else None
        else:
            parent = known.get(item.parent_code) if item.parent_code else None
        if unit is None:
            counts["created"] += 1
            if write:
                known[code] = orgs.create_unit(
                    session, code=code, name=item.name, type=item.type, parent=parent
                )
            continue
        parent_id = parent.id if parent else None
        if (unit.name, unit.type, unit.parent_id) == (item.name, item.type, parent_id):
            counts["unchanged"] += 1
            continue
        counts["updated"] += 1
        if write:
            unit.name, unit.type = item.name, item.type
            if unit.parent_id != parent_id:
                orgs.move_unit(session, unit=unit, new_parent=parent)
            session.flush()
    if not write and not dry_run:
        counts = {"created": 0, "updated": 0, "unchanged": 0}
    job = _finish(
        session,
        kind=ImportKind.units,
        filename=filename,
        data=data,
        actor_id=actor_id,
        scope_prefix=scope_prefix,
        total=len(rows),
        errors=error_list,
        counts=counts,
        dry_run=dry_run,
        wrote=write,
    )
    return ImportResult(job=job, errors=job.errors)


def _resolve_group(raw: str, groups: list[LearnerGroup]) -> LearnerGroup | None:
    if not raw:
        return None
    folded = fold(raw)
    for group in groups:
        if raw == group.code or folded == fold(group.name) or folded == fold(group.code):
            return group
    raise ValueError(f"Không có nhóm học viên “{raw}”.")


def _resolve_role(raw: str, actor_role: Role) -> Role | None:
    if not raw:
        return None
    role = _ROLE_WORDS.get(fold(raw).replace("_", " ")) or _ROLE_WORDS.get(raw.strip())
    if role is None:
        raise ValueError(f"Vai trò “{raw}” không hợp lệ (học viên, quản trị đơn vị).")
    if role == Role.unit_admin and actor_role != Role.admin:
        raise ValueError(f"Chỉ quản trị hệ thống mới được giao vai trò {ROLE_LABELS[role]}.")
    return role


def import_learners(
    session: Session,
    *,
    filename: str,
    data: bytes,
    actor_id: int,
    actor_role: Role,
    scope_prefix: str,
    import_valid_rows: bool = False,
    dry_run: bool = False,
    max_bytes: int,
    max_rows: int,
) -> ImportResult:
    header, rows = read_table(filename, data, max_bytes=max_bytes, max_rows=max_rows)
    refuse_id_columns(header)
    cols = _columns(header, LEARNER_COLUMNS, LEARNER_REQUIRED)
    if "phone" not in cols and "email" not in cols:
        raise Invalid("Thiếu cột so_dien_thoai hoặc email.", code="bad_header")
    groups = list(orgs.list_groups(session))
    unit_codes = {_get(r, cols, "unit_code") for r in rows}
    units = {u.code: u for u in session.scalars(select(Unit).where(Unit.code.in_(unit_codes)))}

    errors: dict[int, str] = {}
    valid: list[tuple[Row, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for row in rows:
        try:
            full_name = normalize_name(_get(row, cols, "full_name"))
            raw_phone, raw_email = _get(row, cols, "phone"), _get(row, cols, "email")
            if raw_phone.isdigit() and len(raw_phone) == 9:
                raw_phone = "0" + raw_phone  # Excel dropped the leading zero
            phone = normalize_phone(raw_phone) if raw_phone else None
            email = normalize_email(raw_email) if raw_email else None
            if not phone and not email:
                raise ValueError("Cần có số điện thoại hoặc thư điện tử.")
            unit_code = _get(row, cols, "unit_code")
            unit = units.get(unit_code)
            if unit is None:
                raise ValueError(f"Không tìm thấy đơn vị có mã “{unit_code}”.")
            if not unit.path.startswith(scope_prefix):
                raise ValueError(f"Đơn vị “{unit_code}” nằm ngoài phạm vi quản lý của bạn.")
            if not unit.is_active:
                raise ValueError(f"Đơn vị “{unit_code}” đã ngừng hoạt động.")
            group = _resolve_group(_get(row, cols, "group"), groups)
            role = _resolve_role(_get(row, cols, "role"), actor_role)
        except ValueError as exc:
            errors[row.line] = str(exc)
            continue
        # the row's number, not the value: stored reports hold no phone numbers or e-mails
        for key, label in ((phone, "Số điện thoại"), (email, "Thư điện tử")):
            if key and key in seen:
                errors[row.line] = f"{label} bị lặp (đã có ở dòng {seen[key]})."
                break
        if row.line in errors:
            continue
        for key in (phone, email):
            if key:
                seen[key] = row.line
        valid.append(
            (
                row,
                {
                    "full_name": full_name,
                    "phone": phone,
                    "email": email,
                    "unit": unit,
                    "group": group,
                    "role": role,
                },
            )
        )

    phones = [v["phone"] for _, v in valid if v["phone"]]
    emails = [v["email"] for _, v in valid if v["email"]]
    by_phone = {u.phone: u for u in session.scalars(select(User).where(User.phone.in_(phones)))}
    by_email = {u.email: u for u in session.scalars(select(User).where(User.email.in_(emails)))}
    unit_paths = {
        uid: path
        for uid, path in session.execute(
            select(Unit.id, Unit.path).where(
                Unit.id.in_({u.unit_id for u in (*by_phone.values(), *by_email.values())})
            )
        )
    }

    plan: list[tuple[Row, dict[str, Any], User | None]] = []
    claimed: dict[int, int] = {}  # account id -> the line that already names it
    for row, v in valid:
        match_phone = by_phone.get(v["phone"]) if v["phone"] else None
        match_email = by_email.get(v["email"]) if v["email"] else None
        if match_phone and match_email and match_phone.id != match_email.id:
            errors[row.line] = "Số điện thoại và thư điện tử thuộc hai tài khoản khác nhau."
            continue
        user = match_phone or match_email
        if user is not None and user.id in claimed:
            errors[row.line] = f"Tài khoản này đã có ở dòng {claimed[user.id]} của tệp."
            continue
        if v["role"] == Role.mentor and (user is None or user.role != Role.mentor):
            errors[row.line] = MENTOR_ROLE_MESSAGE
            continue
        if user is not None:
            if is_anonymised(user):
                errors[row.line] = ANONYMISED_ROW
                continue
            if not unit_paths.get(user.unit_id, "").startswith(scope_prefix):
                errors[row.line] = "Tài khoản này đã có và thuộc một đơn vị ngoài phạm vi của bạn."
                continue
            if user.role in (Role.admin, Role.unit_admin) and actor_role != Role.admin:
                errors[row.line] = "Không được sửa tài khoản quản trị qua tệp nhập."
                continue
            if v["phone"] and user.phone and user.phone != v["phone"]:
                errors[row.line] = "Thư điện tử này đã gắn với một số điện thoại khác."
                continue
        if user is not None:
            claimed[user.id] = row.line
        plan.append((row, v, user))

    error_list = [{"line": line, "message": msg} for line, msg in errors.items()]
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    credentials: list[dict[str, Any]] = []
    write = not dry_run and (not errors or import_valid_rows)
    for row, v, user in plan:
        if user is None:
            counts["created"] += 1
            if write:
                password = temporary_password()
                new = User(
                    full_name=v["full_name"],
                    phone=v["phone"],
                    email=v["email"],
                    password_hash=hash_temporary_password(password),
                    role=v["role"] or Role.learner,
                    unit_id=v["unit"].id,
                    group_id=v["group"].id if v["group"] else None,
                    must_change_password=True,
                )
                session.add(new)
                credentials.append(
                    {
                        "line": row.line,
                        "full_name": v["full_name"],
                        "login": v["phone"] or v["email"],
                        "temporary_password": password,
                    }
                )
            continue
        wanted = {
            "full_name": v["full_name"],
            "unit_id": v["unit"].id,
            "group_id": v["group"].id if v["group"] else user.group_id,
            "role": v["role"] or user.role,
            "email": v["email"] or user.email,
            "phone": v["phone"] or user.phone,
        }
        if all(getattr(user, k) == val for k, val in wanted.items()):
            counts["unchanged"] += 1
            continue
        counts["updated"] += 1
        if write:
            for k, val in wanted.items():
                setattr(user, k, val)
    if write:
        session.flush()
    else:
        if not dry_run:
            counts = {"created": 0, "updated": 0, "unchanged": 0}
    job = _finish(
        session,
        kind=ImportKind.learners,
        filename=filename,
        data=data,
        actor_id=actor_id,
        scope_prefix=scope_prefix,
        total=len(rows),
        errors=error_list,
        counts=counts,
        dry_run=dry_run,
        wrote=write,
    )
    return ImportResult(job=job, errors=job.errors, credentials=credentials)
