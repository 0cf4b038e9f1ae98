"""Leaderboards at a province's scale: learners spread over a province → commune/ward →
hamlet/residential-group tree, a points ledger behind them, and how fast the boards answer
from Redis and from PostgreSQL, and what writing one grade's points costs.

Targets: Redis p99 under 5 ms for top-50 and for "my rank" (entry + 2 neighbours each
side); PostgreSQL p99 under 50 ms for both; one point award under 5 ms p99.

Run: .venv/bin/python bench/leaderboard.py [--learners N] [--events N] [--samples N]
     [--writes N] [--case-seconds S] [--keep] [--reuse] [--skip-reads]
     [--pg-url URL] [--redis-url URL]
(default: 1,000,000 learners, 20,000,000 ledger events, 2,000 reads per case, 1,000
graded challenges; a scratch PostgreSQL database `bdhai_bench_lb` created through the
`test` database and dropped at the end unless --keep; Redis database 13 with the key
prefix `bench:lb:`, flushed at the start and, unless --keep, at the end). --reuse measures
the database a --keep run left, without loading it again; --skip-reads only writes.

The data is bulk-loaded with COPY (secondary indexes and constraints are dropped around
the load and recreated), tallies are rebuilt with `ledger.rebuild_tallies`, Redis boards
with `RedisBoards.rebuild`. Reads go through `SqlBoards` and `RedisBoards`; writes through
`ledger.reconcile` + `ledger.award` in a session whose commit syncs Redis
(`redis_boards.session_info`). A few learners are compared between the stores before and
after the writes; any difference is printed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import itertools
import math
import os
import platform
import random
import secrets
import sys
import time
from array import array
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import ROOT_DIR, Settings  # noqa: E402
from app.core.text import fold  # noqa: E402
from app.curriculum.validate import load_curriculum  # noqa: E402
from app.db import make_engine, make_sessionmaker  # noqa: E402
from app.gamification import (  # noqa: E402
    badges,  # noqa: F401  (imported lazily by ledger.award: loaded now, with the rest)
    leagues,  # noqa: F401
    ledger,
    periods,
    redis_boards,
)
from app.gamification.boards import NEIGHBOURS, TOP, Board, Entry, SqlBoards  # noqa: E402
from app.gamification.redis_boards import RedisBoards, session_info  # noqa: E402
from app.migrations import upgrade  # noqa: E402
from app.models import LearnerGroup, UnitType  # noqa: E402
from app.orgs.service import create_unit, ensure_default_groups  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bdhai_bench_lb"
REDIS_URL = "redis://127.0.0.1:6379/13"
PREFIX = "bench:lb:"
DAYS = 120  # the ledger covers the last 120 days, today included
COMMUNES = 100
MAX_EVENTS_A_DAY = 12  # a learner's events on one day at most (about 300 points, under the cap)
TARGET_MS = {"redis": 5.0, "postgresql": 50.0, "write": 5.0}
SCOPES = ("all", "province", "commune", "hamlet", "group", "level")
OPS = ("top", "my rank", "size")
DUMMY_HASH = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA$YmVuY2ggYWNjb3VudCwgbm8gc2lnbi1pbg"

# (kind, weight, points low, points high, about a lesson); level_complete (200 points) is left
# out, every other kind with its default points (docs/gamification.md)
EVENT_MIX = (
    ("quiz_pass", 24, 10, 10, True),
    ("challenge_score", 20, 18, 30, True),  # 30 × a passing score of 60-100 %
    ("lesson_complete", 16, 50, 50, True),
    ("daily_goal", 16, 10, 10, False),
    ("effort", 8, 2, 2, True),
    ("teach_back_score", 8, 12, 20, True),
    ("mentor_review", 3, 15, 15, False),
    ("answer_accepted", 2, 10, 10, False),
    ("league_promoted", 1.5, 20, 20, False),
    ("streak_milestone", 1, 30, 30, False),
    ("teach_back_featured", 0.5, 30, 30, True),
)
# learner groups (the default ones) and their shares; levels 1-5 skewed to the low ones
GROUP_SHARES = {
    "nong_dan": 30,
    "cong_nhan": 15,
    "hoc_sinh": 14,
    "cao_tuoi": 12,
    "can_bo": 10,
    "khac": 11,
    "doanh_nghiep": 8,
}
LEVEL_CUM = (0.50, 0.74, 0.88, 0.96, 1.0)
FAMILY = (
    ("Nguyễn", 38),
    ("Trần", 11),
    ("Lê", 9.5),
    ("Phạm", 7),
    ("Hoàng", 5),
    ("Huỳnh", 4),
    ("Phan", 4.5),
    ("Vũ", 4),
    ("Võ", 3.5),
    ("Đặng", 2),
    ("Bùi", 2),
    ("Đỗ", 1.5),
    ("Hồ", 1.5),
    ("Ngô", 1.3),
    ("Dương", 1),
    ("Lý", 0.5),
)
MIDDLE = ("Văn", "Thị", "Đức", "Minh", "Ngọc", "Thanh", "Hữu", "Quang", "Thu", "Kim", "Xuân")
GIVEN = (  # noqa: SIM905
    "Hùng Dũng Lan Hoa Mai Nam Tuấn Hương Linh Trang Hà Phương Sơn Long Hải Thảo Yến Bình An "
    "Hiếu Nhung Cường"
).split()
PLACES = (  # noqa: SIM905
    "Tân Lập, Đồng Tâm, Hòa Bình, Quyết Thắng, Thịnh Đức, Phúc Xuân, Tân Cương, "
    "Minh Tiến, Yên Lạc, Hợp Thành, Phú Đình, Điềm Mặc, Bản Ngoại, Cù Vân, Hà Châu, Kha Sơn, "
    "Lương Phú, Thượng Đình, Tân Đức, Vạn Phái"
).split(", ")


# ---- small helpers ------------------------------------------------------------------------
def ms(ns: int | float) -> float:
    return ns / 1e6


def pct(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in ms."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return ms(sorted_values[k])


def figures(values: list[int]) -> tuple[int, float, float, float]:
    s = sorted(values)
    return len(s), pct(s, 0.50), pct(s, 0.99), ms(s[-1]) if s else float("nan")


def verdict(p99: float, target: float) -> str:
    return "PASS" if p99 < target else "MISS"


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Steps:
    """Wall-clock time of each load step, printed as it finishes."""

    def __init__(self) -> None:
        self.done: list[tuple[str, float, str]] = []

    def run(self, label: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        print(f"  {label} ...", end="", flush=True)
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        elapsed = time.perf_counter() - started
        note = result if isinstance(result, str) else ""
        self.done.append((label, elapsed, note))
        print(f" {elapsed:.1f} s{f' ({note})' if note else ''}", flush=True)
        return result


# ---- the scratch database --------------------------------------------------------------
def admin_engine(url: str) -> Engine:
    return create_engine(make_url(url).set(database="test"), isolation_level="AUTOCOMMIT")


def database_exists(url: str) -> bool:
    name = make_url(url).database
    admin = admin_engine(url)
    with admin.connect() as conn:
        found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    admin.dispose()
    return bool(found)


def create_database(url: str) -> None:
    name = make_url(url).database
    admin = admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    name = make_url(url).database
    admin = admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# ---- the data ------------------------------------------------------------------------------
class Tree:
    def __init__(self) -> None:
        self.hamlet_ids: list[int] = []
        self.hamlet_commune: list[int] = []  # index into communes
        self.cum: list[float] = []  # cumulative population weight over hamlets
        self.engagement: list[float] = []  # per commune: how hard it pushes the programme
        self.communes = 0
        self.units = 0


def make_tree(session: Session, rng: random.Random) -> Tree:
    """1 province, COMMUNES communes (a fifth of them wards), 8-12 hamlets or residential
    groups each; populations and engagement vary from unit to unit."""
    tree = Tree()
    province = create_unit(
        session, code="BL-P", name="Tỉnh Thử Tải", type=UnitType.province, parent=None
    )
    total = 0.0
    for c in range(COMMUNES):
        ward = c % 5 == 4
        place = f"{PLACES[c % len(PLACES)]} {c // len(PLACES) + 1}"
        commune = create_unit(
            session,
            code=f"BL-C{c:03d}",
            name=("Phường " if ward else "Xã ") + place,
            type=UnitType.ward if ward else UnitType.commune,
            parent=province,
        )
        size = rng.lognormvariate(0, 0.5) * (1.6 if ward else 1.0)
        tree.engagement.append(rng.lognormvariate(0, 0.35))
        hamlets = [rng.lognormvariate(0, 0.4) for _ in range(rng.randint(8, 12))]
        share = sum(hamlets)
        for h, weight in enumerate(hamlets):
            hamlet = create_unit(
                session,
                code=f"BL-C{c:03d}-H{h:02d}",
                name=(f"Tổ dân phố số {h + 1}" if ward else f"Thôn {PLACES[(c + h) % 20]} {h}"),
                type=UnitType.residential_group if ward else UnitType.hamlet,
                parent=commune,
            )
            total += size * weight / share
            tree.hamlet_ids.append(hamlet.id)
            tree.hamlet_commune.append(c)
            tree.cum.append(total)
    tree.communes = COMMUNES
    tree.units = 1 + COMMUNES + len(tree.hamlet_ids)
    return tree


class People:
    """What the events pass needs to know of each learner (arrays, not row lists)."""

    def __init__(self, n: int) -> None:
        self.activity = array("d", bytes(8 * (n + 1)))
        self.first = array("H", bytes(2 * (n + 1)))  # days ago the learner started
        self.last = array("H", bytes(2 * (n + 1)))  # days ago the learner was last seen
        self.level = array("B", bytes(n + 1))
        self.events = array("I", bytes(4 * (n + 1)))
        self.completed = array("H", bytes(2 * (n + 1)))  # lesson_complete events
        self.points = array("I", bytes(4 * (n + 1)))


def secondary_objects(conn: psycopg.Connection, table: str) -> tuple[list, list, list]:
    """Foreign keys, unique constraints and plain indexes of a table, with their DDL."""
    fks = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f'",
        (table,),
    ).fetchall()
    uniques = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'u'",
        (table,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        (table,),
    ).fetchall()
    return fks, uniques, indexes


TABLES = ("users", "learner_stats", "point_events")


def drop_secondary(
    conn: psycopg.Connection, tables: tuple[str, ...] = TABLES
) -> dict[str, tuple[list, list, list]]:
    saved = {t: secondary_objects(conn, t) for t in tables}
    for table, (fks, uniques, indexes) in saved.items():
        for name, _ in fks + uniques:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    conn.commit()
    return saved


def recreate_secondary(conn: psycopg.Connection, saved: dict) -> str:
    conn.execute("SET maintenance_work_mem = '1GB'")
    made = 0
    for table, (fks, uniques, indexes) in saved.items():
        for _name, ddl in indexes:
            conn.execute(ddl)
            made += 1
        for name, ddl in uniques + fks:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}')
            made += 1
        conn.commit()
    return f"{made} indexes and constraints"


def copy_users(
    conn: psycopg.Connection,
    n: int,
    tree: Tree,
    groups: dict[str, int],
    people: People,
    rng: random.Random,
    days: int = DAYS,
    today: date | None = None,
) -> str:
    """Learners over the hamlets (by population), each with a group, a role (1 % mentors,
    0.1 % unit admins), 1 % deactivated, and an activity level: 12 % never earn a point,
    the rest a log-normal share scaled by their commune's engagement. They started within
    the last `days` days; with `today`, `created_at` is the day they started (else now)."""
    fam_names = [f for f, _ in FAMILY]
    fam_cum = list(itertools.accumulate(w for _, w in FAMILY))
    fam_fold = [fold(f) for f in fam_names]
    mid_fold = [fold(m) for m in MIDDLE]
    giv_fold = [fold(g) for g in GIVEN]
    grp_ids = [groups[c] for c in GROUP_SHARES]
    grp_cum = list(itertools.accumulate(GROUP_SHARES.values()))
    rnd, lognorm, bis = rng.random, rng.lognormvariate, bisect.bisect
    total_pop, total_fam, total_grp = tree.cum[-1], fam_cum[-1], grp_cum[-1]
    act, first, last, level = people.activity, people.first, people.last, people.level
    changed = "2026-08-01 08:00:00+07"
    stats: list[str] = []
    conn.execute("TRUNCATE users, learner_stats CASCADE")
    with (
        conn.cursor().copy(
            "COPY users (id, full_name, search_key, phone, email, password_hash, role, unit_id,"
            " group_id, is_active, must_change_password, password_changed_at"
            f"{', created_at' if today else ''}) FROM STDIN WITH (FREEZE)"
        ) as cp,
    ):
        buf: list[str] = []
        for uid in range(1, n + 1):
            h = bis(tree.cum, rnd() * total_pop)
            if h >= len(tree.hamlet_ids):
                h = len(tree.hamlet_ids) - 1
            f = bis(fam_cum, rnd() * total_fam)
            m = int(rnd() * len(MIDDLE))
            g = int(rnd() * len(GIVEN))
            name = f"{fam_names[f]} {MIDDLE[m]} {GIVEN[g]}"
            key = f"{fam_fold[f]} {mid_fold[m]} {giv_fold[g]}"
            r = rnd()
            role = "unit_admin" if r < 0.001 else "mentor" if r < 0.011 else "learner"
            active = "f" if rnd() < 0.01 else "t"
            grp = grp_ids[bis(grp_cum, rnd() * total_grp)]
            a = 0.0 if rnd() < 0.12 else lognorm(0, 1.0) * tree.engagement[tree.hamlet_commune[h]]
            act[uid] = a
            started = min(days - 1, int(days * rnd() ** 0.7))  # most joined early on
            joined = ""
            if today is not None:  # a time of day from the id: the random stream unchanged
                at = (today - timedelta(days=started)).isoformat()
                joined = f"\t{at} {7 + uid % 14:02d}:{uid * 7 % 60:02d}:00+07"
            buf.append(
                f"{uid}\t{name}\t{key}\t+8490{uid:07d}\t\\N\t{DUMMY_HASH}\t{role}\t"
                f"{tree.hamlet_ids[h]}\t{grp}\t{active}\tf\t{changed}{joined}\n"
            )
            first[uid] = started
            last[uid] = 0 if rnd() < 0.45 else int(rnd() * (started + 1))
            level[uid] = 1 if a == 0 else bis(LEVEL_CUM, rnd()) + 1
            if len(buf) >= 20_000:
                cp.write("".join(buf))
                buf.clear()
        cp.write("".join(buf))
    with conn.cursor().copy(  # same transaction as the TRUNCATE, for FREEZE
        "COPY learner_stats (user_id, streak, longest_streak, freezes, freezes_used, level,"
        " league_tier) FROM STDIN WITH (FREEZE)"
    ) as cp:
        for uid in range(1, n + 1):
            stats.append(f"{uid}\t0\t0\t0\t0\t{level[uid]}\t0\n")
            if len(stats) >= 50_000:
                cp.write("".join(stats))
                stats.clear()
        cp.write("".join(stats))
    conn.execute("SELECT setval('users_id_seq', %s)", (n,))
    conn.commit()
    return f"{n:,} users and learner_stats rows"


def plan_events(n: int, total: int, people: People, rng: random.Random) -> None:
    """How many events each learner has: proportional to activity, at most
    MAX_EVENTS_A_DAY a day over the days they were around, `total` in all."""
    act, ev = people.activity, people.events
    weight = sum(act)
    placed = 0
    for uid in range(1, n + 1):
        if act[uid] <= 0:
            continue
        limit = MAX_EVENTS_A_DAY * (people.first[uid] - people.last[uid] + 1)
        k = min(int(act[uid] * total / weight), limit)
        ev[uid] = k
        placed += k
    active = [uid for uid in range(1, n + 1) if act[uid] > 0]
    if not active:
        raise SystemExit("no active learner: raise --learners")
    tries = 0
    while placed < total:
        uid = active[int(rng.random() * len(active))]
        if ev[uid] < MAX_EVENTS_A_DAY * (people.first[uid] - people.last[uid] + 1):
            ev[uid] += 1
            placed += 1
        tries += 1
        if tries > 50 * total + 1000:
            raise SystemExit("cannot place that many events: raise --learners")


def copy_events(
    conn: psycopg.Connection, n: int, today: date, lessons: list[str], people: People, rng
) -> str:
    """The ledger: each learner's events on days between when they started and when they
    were last seen, kinds and points as the app grants them; requested = points."""
    kinds = [k for k, *_ in EVENT_MIX]
    kind_cum = list(itertools.accumulate(w for _, w, *_ in EVENT_MIX))
    spec = [(k, lo, hi - lo + 1, about) for k, _, lo, hi, about in EVENT_MIX]
    by_kind = dict(zip(kinds, spec, strict=True))
    day_text = [(today - timedelta(days=d)).isoformat() for d in range(DAYS)]
    rnd, choices = rng.random, rng.choices
    n_lessons = len(lessons)
    completed, earned = people.completed, people.points
    eid = 0
    conn.execute("TRUNCATE point_events CASCADE")
    with conn.cursor().copy(
        "COPY point_events (id, user_id, kind, points, requested, idempotency_key, day,"
        " lesson_id, details) FROM STDIN WITH (FREEZE)"
    ) as cp:
        buf: list[str] = []
        for uid in range(1, n + 1):
            k = people.events[uid]
            if not k:
                continue
            lo_day, span = people.last[uid], people.first[uid] - people.last[uid] + 1
            done = total = 0
            for kind in choices(kinds, cum_weights=kind_cum, k=k):
                _, lo, width, about = by_kind[kind]
                pts = lo if width == 1 else lo + int(rnd() * width)
                total += pts
                done += kind == "lesson_complete"
                day = day_text[lo_day + int(rnd() * span)]
                eid += 1
                if about:
                    lesson = lessons[int(rnd() * n_lessons)]
                    buf.append(
                        f"{eid}\t{uid}\t{kind}\t{pts}\t{pts}\t{kind}:{uid}:{lesson}:{eid}\t"
                        f"{day}\t{lesson}\t{{}}\n"
                    )
                else:
                    buf.append(
                        f"{eid}\t{uid}\t{kind}\t{pts}\t{pts}\t{kind}:{uid}:{day}:{eid}\t"
                        f"{day}\t\\N\t{{}}\n"
                    )
            completed[uid], earned[uid] = min(done, 65535), total
            if len(buf) >= 50_000:
                cp.write("".join(buf))
                buf.clear()
        cp.write("".join(buf))
    conn.execute("SELECT setval('point_events_id_seq', %s)", (max(eid, 1),))
    conn.commit()
    return f"{eid:,} events"


def copy_badges(conn: psycopg.Connection, n: int, people: People) -> str:
    """The badges the loaded ledger has earned that the awards check: first_lesson,
    lessons_10, points_1000 (so a timed award does what it does for a learner with history)."""
    rows = 0
    conn.execute("TRUNCATE user_badges")
    with conn.cursor().copy(
        "COPY user_badges (user_id, code, awarded_at) FROM STDIN WITH (FREEZE)"
    ) as cp:
        buf: list[str] = []
        at = "2026-09-01 12:00:00+07"
        for uid in range(1, n + 1):
            done = people.completed[uid]
            if done:
                buf.append(f"{uid}\tfirst_lesson\t{at}\n")
            if done >= 10:
                buf.append(f"{uid}\tlessons_10\t{at}\n")
            if people.points[uid] >= 1000:
                buf.append(f"{uid}\tpoints_1000\t{at}\n")
            if len(buf) >= 50_000:
                rows += len(buf)
                cp.write("".join(buf))
                buf.clear()
        rows += len(buf)
        cp.write("".join(buf))
    conn.commit()
    return f"{rows:,} badges"


def rebuild_tallies(engine: Engine, keys: list[str]) -> str:
    with Session(engine) as session:
        said = ledger.rebuild_tallies(session, keys)
        session.commit()
        rows = session.scalar(text("SELECT count(*) FROM point_tallies"))
    # rebuild_tallies reports 0 on PostgreSQL (rowcount of INSERT ... SELECT is not kept)
    return f"{rows:,} tally rows for {', '.join(keys)}; it reported {said}"


def vacuum(url: str) -> str:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")  # the load's dirty pages written now, not during the reads
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        return f"database {size.fetchone()[0]}"


def tree_and_groups(engine: Engine, rng: random.Random, state: dict[str, Any]) -> str:
    """The default learner groups and a province's unit tree, into `state` (tree, groups)."""
    with Session(engine) as session:
        ensure_default_groups(session)
        made = make_tree(session, rng)
        session.commit()
        groups = dict(session.execute(select(LearnerGroup.code, LearnerGroup.id)).all())
    state["tree"], state["groups"] = made, groups
    return f"{made.units} units, {len(groups)} groups"


def load(url: str, args: argparse.Namespace, today: date, steps: Steps) -> None:
    rng = random.Random(args.seed)
    steps.run("schema (alembic upgrade head)", upgrade, url)
    engine = make_engine(url)

    state: dict[str, Any] = {}
    steps.run("unit tree and learner groups", tree_and_groups, engine, rng, state)
    lessons = [src.lesson.id for _, src in load_curriculum(ROOT_DIR / "curriculum").lessons()]
    people = People(args.learners)
    with psycopg.connect(libpq(url)) as conn:
        saved = steps.run("drop secondary indexes and constraints", drop_secondary, conn)
        steps.run(
            "COPY users + learner_stats",
            copy_users,
            conn,
            args.learners,
            state["tree"],
            state["groups"],
            people,
            rng,
        )
        steps.run("plan events per learner", plan_events, args.learners, args.events, people, rng)
        steps.run(
            "COPY point_events", copy_events, conn, args.learners, today, lessons, people, rng
        )
        steps.run("COPY user_badges", copy_badges, conn, args.learners, people)
        steps.run("recreate indexes and constraints", recreate_secondary, conn, saved)
    keys = [periods.ALL, periods.week_key(today), periods.month_key(today), periods.day_key(today)]
    steps.run("ledger.rebuild_tallies", rebuild_tallies, engine, keys)
    steps.run("VACUUM ANALYZE, CHECKPOINT", vacuum, url)
    engine.dispose()


# ---- boards ---------------------------------------------------------------------------------
class Learner:
    __slots__ = (
        "commune_id",
        "commune_path",
        "group_id",
        "hamlet_id",
        "hamlet_path",
        "id",
        "level",
        "province_id",
        "province_path",
    )

    def __init__(self, row: Any) -> None:
        (
            self.id,
            self.hamlet_id,
            self.hamlet_path,
            self.commune_id,
            self.commune_path,
            self.group_id,
            self.level,
            self.province_id,
            self.province_path,
        ) = row

    def board(self, period: str, scope: str) -> Board:
        if scope == "all":
            return Board(period, "all")
        if scope == "province":  # the whole tree, through the unit index
            return Board(period, "unit", self.province_id, self.province_path)
        if scope == "commune":
            return Board(period, "unit", self.commune_id, self.commune_path)
        if scope == "hamlet":
            return Board(period, "unit", self.hamlet_id, self.hamlet_path)
        if scope == "group":
            return Board(period, "group", self.group_id)
        return Board(period, "level", self.level)


def sample_learners(engine: Engine, period: str, n: int, seed: int) -> list[Learner]:
    """Random learners on the boards of this period (active, learner or mentor, points > 0)."""
    with Session(engine) as session:
        session.execute(text("SELECT setseed(:s)"), {"s": (seed % 1000) / 1000})
        rows = session.execute(
            text(
                "SELECT u.id, h.id, h.path, c.id, c.path, u.group_id, coalesce(ls.level, 1), "
                "p.id, p.path "
                "FROM point_tallies t JOIN users u ON u.id = t.user_id "
                "JOIN units h ON h.id = u.unit_id JOIN units c ON c.id = h.parent_id "
                "JOIN units p ON p.id = c.parent_id "
                "LEFT JOIN learner_stats ls ON ls.user_id = u.id "
                "WHERE t.period = :p AND t.points > 0 AND u.is_active "
                "AND u.role IN ('learner', 'mentor') ORDER BY random() LIMIT :n"
            ),
            {"p": period, "n": n},
        ).all()
    return [Learner(r) for r in rows]


def my_rank(store: Any, session: Session, board: Board, user_id: int) -> list[Entry]:
    mine = store.entry(session, board, user_id)
    return store.around(session, board, mine, NEIGHBOURS) if mine else []


Timings = dict[tuple[str, str, str, str], list[int]]


def measure_reads(
    engine: Engine,
    stores: dict[str, Any],
    samples: dict[str, tuple[str, list[Learner]]],
    budget: float,
) -> Timings:
    """Per store, period, scope: top-50, my rank (entry + around) and size for each sampled
    learner; the first few calls of a case are a warm-up. A case stops after `budget`
    seconds (PostgreSQL's slow cases) once it has 50 timed samples."""
    out: Timings = defaultdict(list)
    clock = time.perf_counter_ns
    for period_name, (period, learners) in samples.items():
        for scope in SCOPES:
            for store_name, store in stores.items():
                started = time.perf_counter()
                with Session(engine) as session:
                    for i, learner in enumerate(learners):
                        board = learner.board(period, scope)
                        t0 = clock()
                        store.top(session, board, TOP)
                        t1 = clock()
                        my_rank(store, session, board, learner.id)
                        t2 = clock()
                        store.size(session, board)
                        t3 = clock()
                        session.rollback()
                        if i < 10:
                            continue
                        key = (store_name, period_name, scope)
                        out[(*key, "top")].append(t1 - t0)
                        out[(*key, "my rank")].append(t2 - t1)
                        out[(*key, "size")].append(t3 - t2)
                        if time.perf_counter() - started > budget and i >= 60:
                            break
                n, p50, p99, _ = figures(out[(store_name, period_name, scope, "my rank")])
                print(
                    f"  {store_name:10} {period_name:5} {scope:8} n={n:5}  "
                    f"top p99 {figures(out[(store_name, period_name, scope, 'top')])[2]:8.2f} ms"
                    f"  my rank p50 {p50:8.2f} p99 {p99:8.2f} ms"
                    f"  size p99 {figures(out[(store_name, period_name, scope, 'size')])[2]:8.2f}"
                    " ms",
                    flush=True,
                )
    return out


def measure_histograms(engine: Engine, samples: dict[str, tuple[str, list[Learner]]]) -> str:
    """What recounting a big board's points histogram costs (SqlBoards does it at most once
    a minute per board, for ranks deeper than its exact depth): the biggest boards."""
    parts = []
    with Session(engine) as session:
        for period_name, (period, learners) in samples.items():
            for scope in ("all", "level"):
                store = SqlBoards(histogram_seconds=0)
                board = learners[0].board(period, scope)
                t0 = time.perf_counter_ns()
                keys, above = store._histogram(session, board)
                took = ms(time.perf_counter_ns() - t0)
                parts.append(
                    f"{period_name}/{scope} ({above[-1]:,} learners, {len(keys):,} point values)"
                    f" {took:.0f} ms"
                )
                session.rollback()
    line = "Histogram recount (SqlBoards, once a minute per big board): " + "; ".join(parts)
    print("  " + line)
    return line


def compare(
    engine: Engine,
    redis_store: RedisBoards,
    sql_store: SqlBoards,
    learners: list[Learner],
    period_keys: list[str],
) -> list[str]:
    """Every board of these learners, both stores: the same top, entry, neighbours, size."""
    problems = []
    with Session(engine) as session:
        for learner in learners:
            for period in period_keys:
                for scope in SCOPES:
                    board = learner.board(period, scope)
                    for what, fn in (
                        ("top", lambda s, b: s.top(session, b, TOP)),
                        ("entry", lambda s, b: s.entry(session, b, learner.id)),  # noqa: B023
                        ("my rank", lambda s, b: my_rank(s, session, b, learner.id)),  # noqa: B023
                        ("size", lambda s, b: s.size(session, b)),
                    ):
                        a, b = fn(redis_store, board), fn(sql_store, board)
                        if a != b:
                            problems.append(
                                f"learner {learner.id} {period} {scope} {what}: "
                                f"Redis {a!r} != SQL {b!r}"
                            )
                session.rollback()
    return problems


# ---- writes ---------------------------------------------------------------------------------
def measure_writes(
    engine: Engine,
    url: str,
    redis_url: str,
    redis_store: RedisBoards,
    n: int,
    seed: int,
) -> tuple[dict[str, list[int]], list[int], tuple[list[int], list[int]]]:
    """What a graded, passing challenge writes to the ledger: reconcile the challenge points
    to the best score, award the lesson's completion, commit (which syncs Redis). Each
    learner first passes the lesson's quiz in a transaction of its own, not timed (as in
    the app; it also places them in this week's league)."""
    settings = Settings(
        environment="test",
        secret_key="bench-leaderboard-" + "x" * 32,
        database_url=url,
        redis_url=redis_url,
    )
    info = session_info(redis_url, settings.tz)
    # session_info's store has the default key prefix; the bench's boards live under PREFIX
    info["boards"] = redis_store
    factory = make_sessionmaker(engine, info)
    with Session(engine) as session:
        session.execute(text("SELECT setseed(:s)"), {"s": ((seed + 1) % 1000) / 1000})
        writers = list(
            session.scalars(
                text(
                    "SELECT id FROM users WHERE is_active AND role IN ('learner', 'mentor') "
                    "ORDER BY random() LIMIT :n"
                ),
                {"n": n},
            )
        )
    rng = random.Random(seed)
    run = secrets.token_hex(3)
    # the bench's own data (the sampled learners, the loaders' leftovers) out of the cyclic
    # GC's scans, so its collections are not billed to the writes (an app process holds
    # none of it)
    gc.collect()
    gc.freeze()
    marks: dict[str, int] = {}

    def committed(_session: Session) -> None:  # runs before the Redis sync listener
        marks["db"] = time.perf_counter_ns()

    event.listen(Session, "after_commit", committed, insert=True)
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    out: dict[str, list[int]] = defaultdict(list)
    client, reader = redis_store.r, Session(engine)
    late: list[int] = []  # learners whose quiz points were their first of the week
    stale: list[int] = []  # ... and Redis did not have them after the commit
    clock = time.perf_counter_ns
    try:
        for i, uid in enumerate(writers):
            lesson = f"bench-{run}-{i:05d}"
            score = rng.randint(60, 100)
            day = datetime.now(settings.tz).date()
            with factory() as session:  # the quiz passed before (not timed): joins the league
                week_first = ledger.total_points(session, uid, periods.week_key(day)) == 0
                ledger.award(
                    session,
                    user_id=uid,
                    kind="quiz_pass",
                    points=settings.points_quiz_pass,
                    key=f"quiz_pass:{uid}:{lesson}",
                    day=day,
                    settings=settings,
                    lesson_id=lesson,
                )
                session.commit()
            if week_first:  # the commit joined a league (a SAVEPOINT after the award)
                late.append(uid)
                sql_points = ledger.total_points(reader, uid)
                reader.rollback()
                found = client.zscore(redis_store.key(periods.ALL, "all"), uid)
                if found is None or redis_boards.unpack(found)[0] != sql_points:
                    stale.append(uid)
            with factory() as session:
                session.connection()  # BEGIN, outside the timings (the app's request has one)
                statements[0] = 0
                t0 = clock()
                ledger.reconcile(
                    session,
                    user_id=uid,
                    kind="challenge_score",
                    lesson_id=lesson,
                    target=round(settings.points_challenge_max * score / 100),
                    ref=f"grading:{run}:{i}",
                    day=day,
                    settings=settings,
                    details={"score": score},
                )
                t1 = clock()
                n_reconcile = statements[0]
                ledger.award(
                    session,
                    user_id=uid,
                    kind="lesson_complete",
                    points=settings.points_lesson_complete,
                    key=f"lesson_complete:{uid}:{lesson}",
                    day=day,
                    settings=settings,
                    lesson_id=lesson,
                )
                session.flush()
                t2 = clock()
                n_award = statements[0] - n_reconcile
                session.commit()
                t3 = clock()
            if i < 10:
                continue
            out["statements: reconcile"].append(n_reconcile)
            out["statements: award"].append(n_award)
            out["reconcile (challenge_score)"].append(t1 - t0)
            out["award (lesson_complete)"].append(t2 - t1)
            out["both, in the transaction"].append(t2 - t0)
            out["COMMIT"].append(marks["db"] - t2)
            out["Redis sync after commit"].append(t3 - marks["db"])
            out["one grade's points, end to end"].append(t3 - t0)
    finally:
        event.remove(Session, "after_commit", committed)
        event.remove(engine, "before_cursor_execute", count)
        reader.close()
    return out, writers, (late, stale)


# ---- the report -----------------------------------------------------------------------------
def summary(
    args: argparse.Namespace,
    reads: Timings,
    writes: dict[str, list[int]],
    steps: Steps,
    redis_info: str,
    shape: str,
    notes: list[str],
) -> tuple[str, bool]:
    lines = []
    missed = False
    lines.append(f"Data: {shape}")
    lines.append("")
    lines.append("| step | time |")
    lines.append("| --- | --- |")
    for label, secs, note in steps.done:
        lines.append(f"| {label}{f' ({note})' if note else ''} | {secs:.1f} s |")
    lines.append("")
    lines.append(f"Redis after the rebuild: {redis_info}")
    lines.append("")
    if reads:
        lines.append("| store | period | scope | op | n | p50 ms | p99 ms | max ms | target |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for (store, period, scope, op), values in reads.items():
            n, p50, p99, top = figures(values)
            target = TARGET_MS[store]
            mark = verdict(p99, target) if op != "size" else "(not a target)"
            lines.append(
                f"| {store} | {period} | {scope} | {op} | {n} | {p50:.2f} | {p99:.2f} | "
                f"{top:.2f} | < {target:g} ms {mark} |"
            )
        lines.append("")
        lines.append("Overall, every case together:")
        lines.append("")
        lines.append("| store | op | n | p50 ms | p99 ms | max ms | target |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        for store in ("redis", "postgresql"):
            for op in OPS:
                values = [v for k, vs in reads.items() if k[0] == store and k[3] == op for v in vs]
                if not values:
                    continue
                n, p50, p99, top = figures(values)
                target = TARGET_MS[store]
                mark = verdict(p99, target)
                if op != "size":
                    missed |= mark == "MISS"
                else:
                    mark = f"{mark} (not a target)"
                lines.append(
                    f"| {store} | {op} | {n} | {p50:.2f} | {p99:.2f} | {top:.2f} | "
                    f"< {target:g} ms {mark} |"
                )
    lines.append("")
    lines.append("Writing one graded, passing challenge's points (PostgreSQL + Redis sync):")
    lines.append("")
    lines.append("| part | n | p50 ms | p99 ms | max ms | target |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for part, values in writes.items():
        if part.startswith("statements"):
            lines.append(
                f"| {part} (SQL statements) | {len(values)} | {min(values)}–{max(values)} | | | |"
            )
            continue
        n, p50, p99, top = figures(values)
        single = part.startswith(("reconcile", "award"))
        mark = f"< {TARGET_MS['write']:g} ms {verdict(p99, TARGET_MS['write'])}" if single else ""
        if single:
            missed |= p99 >= TARGET_MS["write"]
        lines.append(f"| {part} | {n} | {p50:.2f} | {p99:.2f} | {top:.2f} | {mark} |")
    lines += ["", *notes]
    return "\n".join(lines), missed


def flush(client: redis.Redis) -> None:
    """FLUSHDB (this database only) in the background, then wait for the memory to be freed
    (a million learners' boards take longer to free than the client's socket timeout)."""
    client.flushdb(asynchronous=True)
    deadline = time.monotonic() + 300
    while client.info("memory").get("lazyfree_pending_objects", 0) and time.monotonic() < deadline:
        time.sleep(0.5)


def redis_memory(client: redis.Redis) -> tuple[int, str]:
    info = client.info("memory")
    return int(info["used_memory"]), str(info["used_memory_human"])


def load_average() -> str:
    """Other work on the machine shows up in p99: the 1, 5, 15-minute load averages."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine() -> str:
    cpus = os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpus} cores{mem}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--samples", type=int, default=2000, help="reads per case")
    parser.add_argument("--writes", type=int, default=1000, help="graded challenges written")
    parser.add_argument("--check", type=int, default=8, help="learners compared across stores")
    parser.add_argument(
        "--case-seconds", type=float, default=60.0, help="time budget of one read case"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database and Redis keys")
    parser.add_argument("--reuse", action="store_true", help="measure an already loaded database")
    parser.add_argument("--skip-reads", action="store_true", help="only the writes (and checks)")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args()
    url, redis_url = args.pg_url, args.redis_url
    tz = Settings(environment="test", database_url=url).tz
    today = datetime.now(tz).date()
    week, month = periods.week_key(today), periods.month_key(today)
    client = redis.Redis.from_url(redis_url)
    steps = Steps()
    problems: list[str] = []
    keep = args.keep

    admin = admin_engine(url)
    with admin.connect() as conn:
        pg_version = conn.scalar(text("SHOW server_version"))
    admin.dispose()
    print(
        f"{machine()}; PostgreSQL {pg_version}; Redis {client.info('server')['redis_version']}; "
        f"today {today} ({tz.key}), week {week}, month {month}"
    )
    flush(client)
    try:
        if args.reuse and database_exists(url):
            print(f"reusing {make_url(url).database} (not loaded again)")
        else:
            print(
                f"loading {args.learners:,} learners and {args.events:,} events into "
                f"{make_url(url).database}"
            )
            create_database(url)
            load(url, args, today, steps)
        engine = make_engine(url)
        with Session(engine) as session:
            shape = session.execute(
                text(
                    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM point_events), "
                    "(SELECT count(*) FROM units), "
                    "(SELECT count(*) FROM point_tallies WHERE period = 'all' AND points > 0), "
                    "(SELECT count(*) FROM point_tallies WHERE period = :w AND points > 0), "
                    "(SELECT count(*) FROM point_tallies WHERE period = :m AND points > 0), "
                    "(SELECT max(points) FROM point_tallies WHERE period = 'all')"
                ),
                {"w": week, "m": month},
            ).one()
        shape_text = (
            f"{shape[0]:,} accounts, {shape[1]:,} ledger events, {shape[2]:,} units (1 province, "
            f"{COMMUNES} communes/wards, {shape[2] - COMMUNES - 1} hamlets/residential groups); "
            f"on the boards: {shape[3]:,} all time, {shape[4]:,} this week ({week}), "
            f"{shape[5]:,} this month ({month}); top all-time score {shape[6]:,}"
        )
        print(shape_text)

        redis_store = RedisBoards(client, prefix=PREFIX)
        before, _ = redis_memory(client)

        def rebuild() -> str:
            with Session(engine) as session:
                written = redis_store.rebuild(session, [periods.ALL, week, month], today=today)
            return f"{written:,} scores"

        steps.run("RedisBoards.rebuild (all, week, month)", rebuild)
        after, human = redis_memory(client)
        keys = client.dbsize()
        redis_info = (
            f"{keys:,} keys, used_memory {human} ({(after - before) / 2**20:.0f} MiB added)"
        )
        print(f"  Redis: {redis_info}")

        sql_store = SqlBoards()  # as the app runs it: exact counts down to 10,000 ranks
        exact_sql = SqlBoards(exact_ranks=10**9)  # every rank counted, to compare with Redis
        samples = {
            name: (key, sample_learners(engine, key, args.samples + 10, args.seed))
            for name, key in (("all", periods.ALL), ("week", week))
        }

        print(f"checking {args.check} learners on every board, Redis against SQL")
        for _key, learners in samples.values():
            problems += compare(
                engine, redis_store, exact_sql, learners[: args.check], [periods.ALL, week]
            )
        print(f"  {len(problems)} differences")

        reads: Timings = {}
        notes: list[str] = []
        if not args.skip_reads:
            print("reads (per case: p99 of top-50, p50/p99 of my rank, p99 of size)")
            before_reads = load_average()
            print(f"  load average before: {before_reads}")
            reads = measure_reads(
                engine,
                {"redis": redis_store, "postgresql": sql_store},
                samples,
                args.case_seconds,
            )
            print(f"  load average after: {load_average()}")
            notes.append(measure_histograms(engine, samples))
            notes.append(
                f"Load average (1, 5, 15 min) {before_reads} before the reads, "
                f"{load_average()} after."
            )

        print(f"writes: {args.writes} graded challenges (reconcile + award + commit + sync)")
        writes, writers, (late, stale) = measure_writes(
            engine, url, redis_url, redis_store, args.writes, args.seed
        )
        for part, values in writes.items():
            if part.startswith("statements"):
                print(f"  {part:32} {min(values)}–{max(values)} SQL statements")
                continue
            n, p50, p99, top = figures(values)
            print(f"  {part:32} p50 {p50:6.2f} p99 {p99:6.2f} max {top:7.2f} ms (n={n})")
        print(
            f"  {len(late)} quiz awards were the learner's first points of the week (a league "
            f"join follows in the transaction); Redis missed {len(stale)} of them after the commit"
        )
        notes.append(
            f"Writes: {len(late)} of "
            f"{len(writers)} quiz awards were the learner's first points of the week; Redis "
            f"missed {len(stale)} of them after the commit."
        )
        problems += [
            f"learner {uid}: the week's first points did not reach Redis at the commit"
            for uid in stale[:10]
        ] + ([f"... and {len(stale) - 10} more"] if len(stale) > 10 else [])

        print("checking the written learners, Redis against SQL, and tallies against the ledger")
        with Session(engine) as session:
            rows = session.execute(
                text(
                    "SELECT u.id, h.id, h.path, c.id, c.path, u.group_id, coalesce(ls.level, 1), "
                    "p.id, p.path "
                    "FROM users u JOIN units h ON h.id = u.unit_id "
                    "JOIN units c ON c.id = h.parent_id JOIN units p ON p.id = c.parent_id "
                    "LEFT JOIN learner_stats ls ON ls.user_id = u.id WHERE u.id = ANY(:ids)"
                ),
                {"ids": writers[: args.check]},
            ).all()
            for uid in writers[: args.check]:
                tally, ledger_sum = (
                    ledger.total_points(session, uid),
                    ledger.ledger_total(session, uid),
                )
                if tally != ledger_sum:
                    problems.append(f"learner {uid}: all-time tally {tally} != ledger {ledger_sum}")
        written = compare(
            engine, redis_store, exact_sql, [Learner(r) for r in rows], [periods.ALL, week, month]
        )
        problems += written
        print(f"  {len(written)} differences")

        table, missed = summary(args, reads, writes, steps, redis_info, shape_text, notes)
        print()
        print(
            f"## Leaderboards: {machine()}, PostgreSQL {pg_version}, "
            f"Redis {client.info('server')['redis_version']}"
        )
        print()
        print(table)
        if missed:
            print("\nSome targets were missed (MISS above).")
        engine.dispose()
    finally:
        if not keep:
            flush(client)
            drop_database(url)
    if problems:
        print(f"\n{len(problems)} differences between Redis and SQL:")
        for p in problems[:50]:
            print("  " + p)
        sys.exit(1)


if __name__ == "__main__":
    main()
