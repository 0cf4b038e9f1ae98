"""The gamification pages: the leaderboards (Xếp hạng), the weekly league (Giải đấu tuần),
the learner's badges (Huy hiệu), and a unit's emulation board (Thi đua) with its honour
roll (Vinh danh) as CSV or XLSX. Plain server-rendered pages: every tab is a link."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, cast

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.dependencies import CsrfProtected, SettingsDep, SignedIn
from app.auth.service import Principal
from app.core.clock import local_day
from app.core.errors import AppError
from app.core.ids import Id, parse_id
from app.core.text import short_name
from app.db import SessionDep
from app.gamification import boards, emulation, names, periods, service
from app.gamification.boards import ScopeName
from app.gamification.emulation import Metric
from app.gamification.leagues import TIERS
from app.gamification.service import BoardsDep
from app.mentoring import credit
from app.models import LEARNER_ROLES, BoardName, Role, Unit, User, utcnow
from app.orgs.service import ancestors
from app.templating import redirect, render

router = APIRouter(include_in_schema=False)

# Query values are taken as short strings and checked here, so a bad one gets a plain
# Vietnamese message (not a validator's list of English literals).
Word = Annotated[str, Query(max_length=20)]
OptionalId = Annotated[str, Query(max_length=12)]
PeriodKey = Annotated[str, Query(max_length=12)]

PERIOD_TEXT = {"week": "trong tuần này", "month": "trong tháng này", "all": ""}
OUTCOME_LABELS = {"promoted": "Lên hạng", "stayed": "Giữ hạng", "demoted": "Xuống hạng"}
BOARD_PERIODS = ("week", "month")
BOARD_PERIOD_LABELS = {"week": "Theo tuần", "month": "Theo tháng"}


def _bad(message: str, code: str) -> AppError:
    return AppError(message, code=code)  # 400, shown as a Vietnamese error page


def _choice(value: str, allowed: tuple[str, ...], default: str, message: str, code: str) -> str:
    if value == "":
        return default
    if value not in allowed:
        raise _bad(message, code)
    return value


def _optional_id(value: str) -> int | None:
    if value == "":
        return None
    unit_id = parse_id(value)
    if unit_id is None:
        raise _bad("Mã đơn vị không hợp lệ.", "bad_unit_id")
    return unit_id


def _today(settings: SettingsDep) -> date:
    return local_day(utcnow(), settings.tz)


def percent(value: float) -> str:
    """0.1234 → "12,3%" (Vietnamese decimal comma; whole numbers without decimals)."""
    pct = round(value * 100, 1)
    text = f"{pct:.0f}" if pct == int(pct) else f"{pct:.1f}".replace(".", ",")
    return text + "%"


def decimal(value: float) -> str:
    rounded = round(value, 1)
    return f"{rounded:.0f}" if rounded == int(rounded) else f"{rounded:.1f}".replace(".", ",")


# ---- leaderboards ------------------------------------------------------------------------


@router.get("/leaderboard", response_class=HTMLResponse)
def leaderboard(
    request: Request,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    store: BoardsDep,
    scope: Word = "",
    period: Word = "",
    unit_id: OptionalId = "",
) -> Response:
    user = principal.user
    scopes = [s for s in boards.SCOPE_NAMES if s != "group" or user.group_id is not None]
    chosen_scope = _choice(
        scope,
        tuple(scopes),
        "all",
        "Không có bảng xếp hạng này. Hãy chọn Toàn bộ, Đơn vị, Nhóm hoặc Bậc.",
        "bad_scope",
    )
    chosen_period = _choice(
        period,
        periods.PERIOD_NAMES,
        "week",
        "Kỳ xếp hạng không hợp lệ. Hãy chọn Tuần này, Tháng này hoặc Mọi lúc.",
        "bad_period",
    )
    target = _optional_id(unit_id) if chosen_scope == "unit" else None
    view = service.leaderboard_view(
        session,
        store,
        user,
        scope=cast(ScopeName, chosen_scope),
        period=cast(periods.PeriodName, chosen_period),
        today=_today(settings),
        unit_id=target,
    )
    own = session.get(Unit, user.unit_id)
    chain = list(reversed(ancestors(session, own))) if own else []  # own unit first
    parent = chain[1] if len(chain) > 1 else own
    shown_positions = {r.position for r in view.top}
    return render(
        request,
        "gamification/leaderboard.html",
        {
            "board": view,
            "scopes": [(s, boards.SCOPE_LABELS[s]) for s in scopes],
            "periods": [(p, periods.PERIOD_LABELS[p]) for p in ("week", "month", "all")],
            "unit_chain": chain,
            "unit_selected": target or (own.id if own else None),
            "period_label": periods.span(view.period_key).label,
            "period_text": PERIOD_TEXT[chosen_period],
            "on_boards": user.role in LEARNER_ROLES,
            "me_outside_top": view.me is not None and view.me.position not in shown_positions,
            "board_unit": parent,
            "shown_as": names.as_others_see(user),
            "section": "leaderboard",
        },
    )


# ---- how the learner appears on boards ---------------------------------------------------


def _board_name_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    done: bool,
    error: str = "",
    status: int = 200,
) -> Response:
    unit = session.get(Unit, user.unit_id)
    return render(
        request,
        "gamification/board_name.html",
        {
            "choice": user.board_name.value,
            "full_name": user.full_name,
            "short": short_name(user.full_name, names.DEFAULT_NAME),
            "unit_name": unit.name if unit else "",
            "shown_as": names.as_others_see(user),
            "done": done,
            "error": error,
            "section": "leaderboard",
        },
        status,
    )


@router.get("/leaderboard/name", response_class=HTMLResponse)
def board_name_form(
    request: Request, principal: SignedIn, session: SessionDep, done: Word = ""
) -> Response:
    return _board_name_page(request, session, principal.user, done=done == "1")


@router.post("/leaderboard/name", dependencies=[CsrfProtected])
def board_name_submit(
    request: Request,
    principal: SignedIn,
    session: SessionDep,
    choice: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    if choice not in (BoardName.short.value, BoardName.full.value):
        return _board_name_page(
            request,
            session,
            principal.user,
            done=False,
            error="Hãy chọn một cách hiện tên: tên và chữ cái đầu của họ, hoặc họ tên đầy đủ.",
            status=400,
        )
    names.set_choice(session, principal.user, choice)
    return redirect("/leaderboard/name?done=1")


# ---- the weekly league -------------------------------------------------------------------


@router.get("/league", response_class=HTMLResponse)
def league(
    request: Request, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> Response:
    view = service.league_view(session, principal.user, _today(settings), settings)
    groups: dict[str, list] = {"up": [], "": [], "down": []}
    for row in view.standings:
        groups.setdefault(row.zone, []).append(row)
    return render(
        request,
        "gamification/league.html",
        {
            "league": view,
            "week_label": periods.span(view.week).label,
            "zones": [
                ("up", "Vùng lên hạng", groups["up"]),
                ("", "Vùng giữ hạng", groups[""]),
                ("down", "Vùng xuống hạng", groups["down"]),
            ],
            "next_tier": f"Hạng {TIERS[view.tier + 1]}" if view.tier < len(TIERS) - 1 else None,
            "tiers": TIERS,
            "outcomes": OUTCOME_LABELS,
            "week_labels": {h.week: periods.span(h.week).label for h in view.history},
            "league_size": settings.league_size,
            "promote": settings.league_promote,
            "demote": settings.league_demote,
            "promoted_points": settings.points_league_promoted,
            "section": "leaderboard",
        },
    )


# ---- badges ------------------------------------------------------------------------------


@router.get("/badges", response_class=HTMLResponse)
def badges_page(request: Request, principal: SignedIn, session: SessionDep) -> Response:
    all_badges = service.badges_view(session, principal.user.id)
    earned = sorted(  # the newest first
        (b for b in all_badges if b.earned_at), key=lambda b: str(b.earned_at), reverse=True
    )
    locked = [b for b in all_badges if not b.earned_at]
    mentor_credit = credit.summary(session, principal.user.id)
    shows_credit = principal.user.role == Role.mentor or credit.has_credit(mentor_credit)
    return render(
        request,
        "gamification/badges.html",
        {
            "earned": earned,
            "locked": locked,
            "total": len(all_badges),
            "mentor_credit": mentor_credit if shows_credit else None,
            "section": "leaderboard",
        },
    )


# ---- unit emulation (thi đua) and the honour roll (vinh danh) ----------------------------


@dataclass(frozen=True)
class StandingRow:
    rank: int
    unit_id: int
    name: str
    linked: bool
    active: int
    registered: int
    participation: str
    of_target: str | None
    target_population: int | None
    average_points: str
    completion: str


def _can_view(session: SessionDep, principal: Principal, unit_id: int) -> bool:
    try:
        service.viewable_unit(session, principal, unit_id)
    except AppError:
        return False
    return True


def _board_period(period: str, key: str, today: date) -> tuple[str, str]:
    """The period name and key of a unit board: `key` wins when given (its shape says
    whether it is a week or a month)."""
    chosen = _choice(
        period,
        BOARD_PERIODS,
        "week",
        "Kỳ thi đua không hợp lệ. Hãy chọn theo tuần hoặc theo tháng.",
        "bad_period",
    )
    if key and not re.fullmatch(r"\d{4}-(W\d{2}|\d{2})", key):
        raise _bad("Kỳ không hợp lệ (ví dụ 2026-W47 hoặc 2026-10).", "bad_period")
    period_key = service.period_key_of(chosen, key or None, today)
    return ("week" if "W" in period_key else "month"), period_key


def _next_key(period_key: str, today: date) -> str | None:
    nxt = periods.following(period_key)
    return None if periods.span(nxt).first > today else nxt


@router.get("/units/{unit_id}/board", response_class=HTMLResponse)
def unit_board(
    request: Request,
    unit_id: Id,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    store: BoardsDep,
    period: Word = "",
    key: PeriodKey = "",
    metric: Word = "",
) -> Response:
    unit = service.viewable_unit(session, principal, unit_id)
    today = _today(settings)
    chosen_period, period_key = _board_period(period, key, today)
    chosen_metric = _choice(
        metric,
        emulation.METRICS,
        "participation",
        "Tiêu chí thi đua không hợp lệ. Hãy chọn tham gia, điểm hoặc hoàn thành.",
        "bad_metric",
    )
    view = service.unit_board_view(
        session,
        unit,
        period_key=period_key,
        metric=cast(Metric, chosen_metric),
        period=chosen_period,
    )
    rows = [
        StandingRow(
            rank=u.rank,
            unit_id=u.unit_id,
            name=u.name,
            linked=_can_view(session, principal, u.unit_id),
            active=u.active,
            registered=u.registered,
            participation=percent(u.participation),
            of_target=(
                percent(u.participation_of_target)
                if u.participation_of_target is not None
                else None
            ),
            target_population=u.target_population,
            average_points=decimal(u.average_points),
            completion=percent(u.completion),
        )
        for u in view.units
    ]
    roll = service.honour_roll_for(session, store, principal, unit, period_key)
    current_key = periods.key_for(cast(periods.PeriodName, chosen_period), today)
    above = [u for u in ancestors(session, unit)[:-1] if _can_view(session, principal, u.id)]
    return render(
        request,
        "gamification/unit_board.html",
        {
            "unit": unit,
            "board": view,
            "rows": rows,
            "roll": roll,
            "roll_units": [(u, percent(u.participation)) for u in roll.units],
            "above": above,
            "period_label": periods.span(period_key).label,
            "is_current": period_key == current_key,
            "previous_key": periods.previous(period_key),
            "next_key": _next_key(period_key, today),
            "board_periods": [(p, BOARD_PERIOD_LABELS[p]) for p in BOARD_PERIODS],
            "metrics": [(m, emulation.METRIC_LABELS[m]) for m in emulation.METRICS],
            "key_query": f"&key={period_key}" if period_key != current_key else "",
            "section": "leaderboard",
        },
    )


def _roll_download(
    principal: Principal,
    session: SessionDep,
    settings: SettingsDep,
    store: BoardsDep,
    unit_id: int,
    period: str,
    key: str,
    fmt: emulation.ExportFormat,
) -> Response:
    unit = service.viewable_unit(session, principal, unit_id)
    _, period_key = _board_period(period, key, _today(settings))
    roll = service.honour_roll_for(session, store, principal, unit, period_key)
    content, media, filename = emulation.download(roll, fmt)
    return Response(
        content,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/units/{unit_id}/honour-roll.csv")
def honour_roll_csv(
    unit_id: Id,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    store: BoardsDep,
    period: Word = "",
    key: PeriodKey = "",
) -> Response:
    return _roll_download(principal, session, settings, store, unit_id, period, key, "csv")


@router.get("/units/{unit_id}/honour-roll.xlsx")
def honour_roll_xlsx(
    unit_id: Id,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    store: BoardsDep,
    period: Word = "",
    key: PeriodKey = "",
) -> Response:
    return _roll_download(principal, session, settings, store, unit_id, period, key, "xlsx")
