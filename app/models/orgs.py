"""The unit tree (any depth) and the configurable learner groups."""

from __future__ import annotations

import enum

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.core.text import fold
from app.models.base import Base, IdMixin, TimestampMixin


class UnitType(enum.StrEnum):
    province = "province"
    commune = "commune"
    ward = "ward"
    special_zone = "special_zone"
    hamlet = "hamlet"
    residential_group = "residential_group"
    agency = "agency"
    school = "school"
    clinic = "clinic"
    business = "business"
    cooperative = "cooperative"
    other = "other"


UNIT_TYPE_LABELS: dict[UnitType, str] = {
    UnitType.province: "Tỉnh/Thành phố",
    UnitType.commune: "Xã",
    UnitType.ward: "Phường",
    UnitType.special_zone: "Đặc khu",
    UnitType.hamlet: "Thôn/Xóm/Ấp/Bản",
    UnitType.residential_group: "Tổ dân phố",
    UnitType.agency: "Cơ quan",
    UnitType.school: "Trường học",
    UnitType.clinic: "Trạm y tế/Cơ sở y tế",
    UnitType.business: "Doanh nghiệp",
    UnitType.cooperative: "Hợp tác xã",
    UnitType.other: "Khác",
}


def enum_column(enum_cls: type[enum.Enum], length: int = 32) -> Enum:
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Unit(IdMixin, TimestampMixin, Base):
    """A node of the organisation tree. `path` is the materialised path of ids, e.g. `/1/7/42/`,
    so a subtree is one indexed prefix match and no depth is assumed."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    search_key: Mapped[str] = mapped_column(String(200), default="")
    type: Mapped[UnitType] = mapped_column(enum_column(UnitType))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("units.id", ondelete="RESTRICT"), index=True
    )
    path: Mapped[str] = mapped_column(String(500), default="")
    depth: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    # people the unit should reach (for participation over population); None = not set
    target_population: Mapped[int | None] = mapped_column()

    parent: Mapped[Unit | None] = relationship(remote_side="Unit.id", lazy="raise")

    __table_args__ = (
        Index("ix_units_path", "path", postgresql_ops={"path": "varchar_pattern_ops"}),
    )

    @validates("name")
    def _set_search_key(self, _key: str, value: str) -> str:
        self.search_key = fold(value)[:200]
        return value

    def is_within(self, other_path: str) -> bool:
        return self.path.startswith(other_path)

    @property
    def path_ids(self) -> list[int]:
        return path_ids(self.path)


def path_ids(path: str) -> list[int]:
    """A materialised path's unit ids, from the top of the tree down to the unit itself."""
    return [int(part) for part in path.strip("/").split("/") if part]


class LearnerGroup(IdMixin, TimestampMixin, Base):
    __tablename__ = "learner_groups"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(500), default="")
    sort_order: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    # the program's targets for the group (seeds 000-002), in % of its target population:
    # who take part, and who improve measurably (hold the certificate of `improve_level`)
    join_target_pct: Mapped[int | None] = mapped_column()
    improve_target_pct: Mapped[int | None] = mapped_column()
    improve_level: Mapped[int | None] = mapped_column()
