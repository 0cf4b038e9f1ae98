"""Reporting at a province's scale: the dashboard and the quarterly report over a province
of learners about four months into the programme (from 1 August 2026 to today).

Targets: the dashboard (`app.reports.figures.dashboard`) under 500 ms p99 for the province,
a commune and a hamlet; the quarterly report (`app.reports.quarterly.build` + XLSX + PDF)
under 2 s p99 for the province.

Run: .venv/bin/python bench/reports.py [--learners N] [--samples N] [--ledger MODE]
     [--keep] [--reuse] [--seed S] [--pg-url URL]
(default: 1,000,000 learners, 20 timed runs per case after one warm-up; a scratch
PostgreSQL database `bdhai_bench_reports` created through the `test` database and dropped
at the end unless --keep). --reuse measures the database a --keep run left, without
loading it again.

The unit tree and the accounts are those of bench/leaderboard.py (its functions, with
`created_at` over the programme's days). Then, in one pass over the learners with a fixed
seed, every table the reports read is written with COPY (secondary indexes and constraints
dropped around the load and recreated): study days (heavier learners on more days), lesson
progress through the real curriculum in order, graded challenge submissions (some failed
before the pass), the ledger (`--ledger levels`: level_complete only; `lessons`, the
default: also lesson_complete and daily_goal; `full`: also quiz_pass and challenge_score),
certificates for completed levels (most issued, a few pending or revoked), the streaks in
learner_stats, active mentorships for the mentors who completed level 1, and target
populations per unit and per learner group; the month tallies from the ledger; VACUUM
ANALYZE; then the report rollups, every day (`rollups.refresh(full=True)`, timed), which
is what the dashboard and the report read. The sweep's refresh (yesterday and today) is
timed too, as a figure without a target.

It prints the load steps, the data's shape, the 5 slowest SQL statements of one dashboard
call and of one report build with the EXPLAIN (ANALYZE, BUFFERS) of the slowest, and a
Markdown table of the timings; the exit status is 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import sys
import time
from array import array
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))

from leaderboard import (  # bench/leaderboard.py, which also puts the repo on sys.path
    TABLES,
    People,
    Steps,
    Tree,
    admin_engine,
    copy_users,
    create_database,
    database_exists,
    drop_database,
    drop_secondary,
    figures,
    libpq,
    load_average,
    machine,
    rebuild_tallies,
    recreate_secondary,
    tree_and_groups,
    vacuum,
    verdict,
)

from app.config import ROOT_DIR, Settings
from app.curriculum.loader import sync_curriculum
from app.curriculum.validate import load_curriculum
from app.db import make_engine
from app.gamification import periods
from app.migrations import upgrade
from app.models import Unit
from app.reports import rollups

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bdhai_bench_reports"
START = date(2026, 8, 1)  # the programme's first day
TARGET_MS = {"dashboard": 500.0, "report": 2000.0}
MOVED = 1_000  # learners moved to another commune in the moves case
ACTIVE_PER_ACTIVITY = 0.12  # a learner's chance to study on a day, per unit of activity
MAX_DAY_CHANCE = 0.85
SERIAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LOADED = (
    *TABLES,
    "study_days",
    "lesson_progress",
    "submissions",
    "certificates",
    "mentorships",
)
# groups counted by the commune (its own figure) rather than by its hamlets
COMMUNE_GROUPS = ("can_bo", "doanh_nghiep")
# the share of a group's people who registered, low-high (the rest of the target population)
JOIN_SHARE = {"can_bo": (0.75, 0.98), "doanh_nghiep": (0.4, 0.8)}
JOIN_SHARE_DEFAULT = (0.15, 0.55)


# ---- the data ------------------------------------------------------------------------------
class Copy:
    """One table's COPY on a connection of its own (several run side by side, one pass over
    the learners feeds them all); TRUNCATE first in the same transaction, for FREEZE."""

    def __init__(self, url: str, table: str, columns: str) -> None:
        self.table = table
        self.conn = psycopg.connect(libpq(url))
        self.conn.execute(f"TRUNCATE {table} CASCADE")
        self._cm = self.conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN WITH (FREEZE)")
        self._copy = self._cm.__enter__()
        self.buf: list[str] = []
        self.rows = 0

    def flush(self) -> None:
        if self.buf:
            self._copy.write("".join(self.buf))
            self.rows += len(self.buf)
            self.buf.clear()

    def close(self) -> None:
        self.flush()
        self._cm.__exit__(None, None, None)
        self.conn.commit()
        self.conn.close()


class Context:
    """What the pass over the learners needs: days, lessons, units, accounts."""

    def __init__(self, today: date, now: datetime) -> None:
        self.today = today
        self.now = now
        self.days = (today - START).days + 1
        self.day_text = [(today - timedelta(days=d)).isoformat() for d in range(self.days)]
        # lessons in curriculum order: (id, level, version id); where each level ends
        self.lessons: list[tuple[str, int, int]] = []
        self.level_end: dict[int, int] = {}  # index of a level's last lesson → level
        self.min_average: dict[int, float] = {}
        self.final_test: set[int] = set()
        self.unit_of = array("i")  # per user id: the hamlet
        self.role = bytearray()  # per user id: 0 learner, 1 mentor, 2 other
        self.names: list[str] = []
        self.path: dict[int, str] = {}
        self.commune: dict[int, int] = {}  # hamlet → its commune
        self.active_share = 0.0  # learners active on a day over those registered (mean)


def lessons_and_levels(engine: Engine, ctx: Context) -> str:
    """The real curriculum in the database (the lessons' foreign keys need it)."""
    with Session(engine) as session:
        report = sync_curriculum(session, load_curriculum(ROOT_DIR / "curriculum"))
        session.commit()
        rows = session.execute(
            text(
                "SELECT l.id, l.level_number, v.id FROM lessons l JOIN lesson_versions v "
                "ON v.lesson_id = l.id AND v.version = l.current_version "
                "WHERE l.is_active ORDER BY l.level_number, l.position"
            )
        ).all()
        levels = session.execute(text("SELECT number, certificate FROM levels")).all()
    ctx.lessons = [(r[0], r[1], r[2]) for r in rows]
    per_level: dict[int, list[int]] = defaultdict(list)
    for i, (_, level, _) in enumerate(ctx.lessons):
        per_level[level].append(i)
    for number, cert in levels:
        cert = cert if isinstance(cert, dict) else {}
        indexes = per_level.get(number, [])
        needed = min(int(cert.get("lessons_passed", len(indexes))), len(indexes))
        if needed:
            ctx.level_end[indexes[needed - 1]] = number
        ctx.min_average[number] = float(cert.get("min_average") or 0)
        if cert.get("final_test"):
            ctx.final_test.add(number)
    made = len(getattr(report, "lessons_created", []) or [])
    return f"{len(ctx.lessons)} lessons ({made} created), {len(levels)} levels"


def accounts(engine: Engine, ctx: Context, n: int) -> str:
    """Each account's hamlet, role and name, and the units' paths (for the pass)."""
    ctx.unit_of = array("i", bytes(4 * (n + 1)))
    ctx.role = bytearray(n + 1)
    ctx.names = [""] * (n + 1)
    codes = {"learner": 0, "mentor": 1}
    with Session(engine) as session:
        for uid, unit_id, role, name in session.execute(
            text("SELECT id, unit_id, role, full_name FROM users")
        ):
            ctx.unit_of[uid] = unit_id
            ctx.role[uid] = codes.get(role, 2)
            ctx.names[uid] = name
        for uid, path, parent in session.execute(text("SELECT id, path, parent_id FROM units")):
            ctx.path[uid] = path
            ctx.commune[uid] = parent
    return f"{sum(1 for r in ctx.role if r == 1):,} mentors"


def set_targets(url: str, groups: dict[str, int], rng: random.Random) -> str:
    """Target populations: each hamlet's working-age population (those who registered are a
    share of it) and its groups' populations; each commune its own working-age figure (the
    official count: near the sum of its hamlets') and its civil servants and business owners
    (counted by the commune, not by the hamlets)."""
    code_of = {gid: code for code, gid in groups.items()}
    with psycopg.connect(libpq(url)) as conn:
        counts = conn.execute(
            "SELECT u.unit_id, h.parent_id, u.group_id, count(*) FROM users u "
            "JOIN units h ON h.id = u.unit_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()
        hamlet_pop: dict[int, int] = defaultdict(int)
        commune_of: dict[int, int] = {}
        hamlet_group: dict[tuple[int, int], int] = {}
        commune_group: dict[tuple[int, int], int] = defaultdict(int)
        for hamlet, commune, group_id, n in counts:
            code = code_of.get(group_id, "")
            low, high = JOIN_SHARE.get(code, JOIN_SHARE_DEFAULT)
            population = math.ceil(n / (low + (high - low) * rng.random()))
            commune_of[hamlet] = commune
            hamlet_pop[hamlet] += population
            if code in COMMUNE_GROUPS:
                commune_group[(commune, group_id)] += population
            else:
                hamlet_group[(hamlet, group_id)] = population
        commune_pop: dict[int, int] = defaultdict(int)
        for hamlet, population in hamlet_pop.items():
            commune_pop[commune_of[hamlet]] += population
        own = {c: round(p * (0.95 + 0.15 * rng.random())) for c, p in commune_pop.items()}
        figures_ = [*hamlet_pop.items(), *own.items()]
        conn.execute(
            "UPDATE units SET target_population = v.p FROM "
            "(SELECT unnest(%s::int[]) AS id, unnest(%s::int[]) AS p) v WHERE units.id = v.id",
            ([u for u, _ in figures_], [p for _, p in figures_]),
        )
        conn.execute("TRUNCATE unit_targets")
        with conn.cursor().copy(
            "COPY unit_targets (unit_id, group_id, population) FROM STDIN"
        ) as cp:
            for (unit_id, group_id), population in [*hamlet_group.items(), *commune_group.items()]:
                cp.write_row((unit_id, group_id, population))
        conn.commit()
    return (
        f"{len(figures_)} units with a working-age population, "
        f"{len(hamlet_group) + len(commune_group):,} group targets"
    )


def serial(level: int, rnd: Callable[[], float], used: set[str]) -> str:
    while True:
        code = "".join(SERIAL_ALPHABET[int(rnd() * 32)] for _ in range(8))
        value = f"BDHAI-{level}-2026-{code}"
        if value not in used:
            used.add(value)
            return value


def learn(
    url: str, n: int, ctx: Context, people: People, rng: random.Random, ledger_mode: str
) -> str:
    """One pass over the learners, writing every table at once (a COPY per table).

    Days are counted in days ago (0 = today). A learner studies on some of the days between
    joining and last being seen, more often the more active; on a study day they may complete
    1-3 lessons, in curriculum order (quiz passed, then the challenge: 15 % fail it once
    first). Twelve lessons complete a level: its level_complete event, and a certificate if
    the average of the best challenge grades reaches the level's minimum (and the final test
    is passed, where there is one: 85 %)."""
    rnd, gauss, sample = rng.random, rng.gauss, rng.sample
    act, first, last = people.activity, people.first, people.last
    dt, lessons, level_end = ctx.day_text, ctx.lessons, ctx.level_end
    n_lessons = len(lessons)
    yesterday = dt[1] if len(dt) > 1 else dt[0]
    full = ledger_mode == "full"
    lesson_events = ledger_mode in ("lessons", "full")
    streams = {
        "study_days": Copy(
            url,
            "study_days",
            "user_id, day, active_seconds, lessons_completed, last_beat_at, goal_met_at,"
            " frozen, created_at",
        ),
        "lesson_progress": Copy(
            url,
            "lesson_progress",
            "user_id, lesson_id, quiz_attempts, quiz_best, quiz_passed_at, submissions,"
            " challenge_best, challenge_passed_at, completed_at, last_activity_at, created_at",
        ),
        "submissions": Copy(
            url,
            "submissions",
            "id, user_id, lesson_id, lesson_version_id, kind, status, client_id, day, text,"
            " text_sha256, score, passed, grader, graded_at, attempts, confidence, provisional,"
            " flags, needs_review, share_consent, created_at",
        ),
        "point_events": Copy(
            url,
            "point_events",
            "id, user_id, kind, points, requested, idempotency_key, day, lesson_id, details,"
            " created_at",
        ),
        "certificates": Copy(
            url,
            "certificates",
            "id, serial, user_id, level_number, status, holder_name, unit_id, unit_path,"
            " lessons_passed, average, eligible_at, issued_at, revoked_at, revoke_reason,"
            " created_at",
        ),
        "learner_stats": Copy(
            url,
            "learner_stats",
            "user_id, streak, longest_streak, streak_started, last_counted, settled_through,"
            " freezes, freezes_used, level, league_tier",
        ),
        "mentorships": Copy(
            url,
            "mentorships",
            "id, user_id, level_number, status, unit_path, decided_at, reason, created_at",
        ),
    }
    sd, lp, sub = (streams[t].buf for t in ("study_days", "lesson_progress", "submissions"))
    ev, cert, stats = (streams[t].buf for t in ("point_events", "certificates", "learner_stats"))
    ment = streams["mentorships"].buf
    sub_id = ev_id = cert_id = ms_id = 0
    used: set[str] = set()
    top_level = max(ctx.min_average) if ctx.min_average else 1
    active_days = [0] * ctx.days  # learners active per day (for the shape)
    try:
        for uid in range(1, n + 1):
            a, f, lo = act[uid], first[uid], last[uid]
            mentor = ctx.role[uid] == 1
            if mentor:  # mentors are among the keenest
                a = max(a, 3.0)
            if a <= 0:  # registered; half of them opened the first lesson once
                if rnd() < 0.5 and n_lessons:
                    at = f"{dt[f]} {8 + uid % 12:02d}:{uid % 60:02d}:00+07"
                    secs = 60 + int(rnd() * 500)
                    sd.append(f"{uid}\t{dt[f]}\t{secs}\t0\t{at}\t\\N\tf\t{at}\n")
                    lp.append(
                        f"{uid}\t{lessons[0][0]}\t0\t\\N\t\\N\t0\t\\N\t\\N\t\\N\t{at}\t{at}\n"
                    )
                    active_days[f] += 1
                stats.append(f"{uid}\t0\t0\t\\N\t\\N\t{yesterday}\t0\t0\t1\t0\n")
                continue
            span = f - lo + 1
            p = min(MAX_DAY_CHANCE, ACTIVE_PER_ACTIVITY * a)
            mean = span * p
            k = int(mean + gauss(0.0, 1.0) * math.sqrt(mean * (1 - p)) + 0.5)
            k = max(1, min(span, k))
            offsets = sample(range(span), k)
            offsets.sort(reverse=True)  # the earliest day (most days ago) first
            hardness = 0.3 + 4 * rnd() ** 3  # how hard the challenges are for this learner
            done = 0
            best: list[float] = []  # best challenge grade per completed lesson
            counted: list[int] = []  # days that count toward the streak
            level_done_at: dict[int, str] = {}
            d = f
            for off in offsets:
                d = lo + off
                day = dt[d]
                active_days[d] += 1
                c = 0
                if done < n_lessons and (mentor or rnd() < 0.5):
                    r = rnd()
                    c = min(1 if r < 0.7 else 2 if r < 0.92 else 3, n_lessons - done)
                secs = c * (480 + int(rnd() * 600)) + 60 + int(rnd() * 840)
                hour, minute = 6 + int(rnd() * 15), int(rnd() * 60)
                begin = f"{day} {hour:02d}:{minute:02d}:00+07"
                end_min = min(hour * 60 + minute + secs // 60 + 1, 23 * 60 + 59)
                beat = f"{day} {end_min // 60:02d}:{end_min % 60:02d}:00+07"
                goal = secs >= 900
                sd.append(
                    f"{uid}\t{day}\t{secs}\t{c}\t{beat}\t{beat if goal else chr(92) + 'N'}\tf\t"
                    f"{begin}\n"
                )
                if goal or c:
                    counted.append(d)
                if goal and lesson_events:
                    ev_id += 1
                    ev.append(
                        f"{ev_id}\t{uid}\tdaily_goal\t10\t10\tdaily_goal:{uid}:{day}\t{day}\t"
                        f"\\N\t{{}}\t{beat}\n"
                    )
                for j in range(c):
                    idx = done
                    done += 1
                    lesson_id, level, version = lessons[idx]
                    pass_mark = 60
                    score = pass_mark + int((100 - pass_mark) * rnd() ** hardness)
                    best.append(score)
                    total = hour * 60 + minute + 15 * (j + 1)
                    at = f"{day} {total // 60:02d}:{total % 60:02d}:00+07"
                    quiz_at = f"{day} {total // 60:02d}:{total % 60:02d}:00+07"
                    tries = 2 if rnd() < 0.15 else 1
                    if tries == 2:  # a failed challenge first
                        sub_id += 1
                        low = 30 + int(rnd() * 29)
                        sub.append(
                            f"{sub_id}\t{uid}\t{lesson_id}\t{version}\tchallenge\tgraded\t"
                            f"c{idx}-1\t{day}\tbai lam {uid} {idx} lan 1\t{uid:032x}{sub_id:032x}"
                            f"\t{low}\tf\tllm\t{at}\t1\t0.9\tf\t[]\tf\tf\t{at}\n"
                        )
                    sub_id += 1
                    sub.append(
                        f"{sub_id}\t{uid}\t{lesson_id}\t{version}\tchallenge\tgraded\t"
                        f"c{idx}-{tries}\t{day}\tbai lam {uid} {idx}\t{uid:032x}{sub_id:032x}\t"
                        f"{score}\tt\tllm\t{at}\t1\t0.9\tf\t[]\tf\tf\t{at}\n"
                    )
                    quiz_tries = 2 if rnd() < 0.2 else 1
                    lp.append(
                        f"{uid}\t{lesson_id}\t{quiz_tries}\t{75 + int(rnd() * 26)}\t{quiz_at}\t"
                        f"{tries}\t{score}\t{at}\t{at}\t{at}\t{begin}\n"
                    )
                    if lesson_events:
                        ev_id += 1
                        ev.append(
                            f"{ev_id}\t{uid}\tlesson_complete\t50\t50\t"
                            f"lesson_complete:{uid}:{lesson_id}\t{day}\t{lesson_id}\t{{}}\t{at}\n"
                        )
                    if full:
                        ev_id += 2
                        pts = round(30 * score / 100)
                        ev.append(
                            f"{ev_id - 1}\t{uid}\tquiz_pass\t10\t10\tquiz_pass:{uid}:{lesson_id}"
                            f"\t{day}\t{lesson_id}\t{{}}\t{quiz_at}\n"
                            f"{ev_id}\t{uid}\tchallenge_score\t{pts}\t{pts}\t"
                            f"challenge_score:{uid}:{lesson_id}:grading:{sub_id}\t{day}\t"
                            f'{lesson_id}\t{{"score": {score}}}\t{at}\n'
                        )
                    if idx in level_end:  # a level completed
                        number = level_end[idx]
                        level_done_at[number] = at
                        ev_id += 1
                        ev.append(
                            f"{ev_id}\t{uid}\tlevel_complete\t200\t200\t"
                            f"level_complete:{uid}:{number}\t{day}\t\\N\t"
                            f'{{"level": {number}}}\t{at}\n'
                        )
                        grades = best[-12:]
                        average = sum(grades) / len(grades)
                        if average < ctx.min_average.get(number, 0):
                            continue
                        if number in ctx.final_test and rnd() >= 0.85:
                            continue
                        cert_id += 1
                        hamlet = ctx.unit_of[uid]
                        wait = min(d, int(rnd() * 3))
                        issued = f"{dt[d - wait]} {hour + 1:02d}:{minute:02d}:00+07"
                        status, revoked, reason = "issued", "\\N", "\\N"
                        if d <= 3 and rnd() < 0.4:
                            status, issued = "pending", "\\N"
                        elif rnd() < 0.01:
                            later = max(0, d - wait - 1 - int(rnd() * 10))
                            status, revoked = "revoked", f"{dt[later]} 10:00:00+07"
                            reason = "Bài làm không phải của học viên"
                        cert.append(
                            f"{cert_id}\t{serial(number, rnd, used)}\t{uid}\t{number}\t{status}\t"
                            f"{ctx.names[uid]}\t{ctx.commune[hamlet]}\t{ctx.path[hamlet]}\t"
                            f"{len(grades)}\t{average:.1f}\t{at}\t{issued}\t{revoked}\t{reason}\t"
                            f"{at}\n"
                        )
            if done < n_lessons:  # the lesson in hand, on the last study day
                lesson_id, _, version = lessons[done]
                at = f"{dt[d]} 21:30:00+07"
                quiz = rnd() < 0.6
                failed = quiz and rnd() < 0.3
                if failed:
                    sub_id += 1
                    low = 30 + int(rnd() * 29)
                    sub.append(
                        f"{sub_id}\t{uid}\t{lesson_id}\t{version}\tchallenge\tgraded\t"
                        f"c{done}-1\t{dt[d]}\tbai lam {uid} {done}\t{uid:032x}{sub_id:032x}\t"
                        f"{low}\tf\tllm\t{at}\t1\t0.9\tf\t[]\tf\tf\t{at}\n"
                    )
                lp.append(
                    f"{uid}\t{lesson_id}\t1\t{80 if quiz else 50}\t{at if quiz else chr(92) + 'N'}"
                    f"\t{1 if failed else 0}\t{low if failed else chr(92) + 'N'}\t\\N\t\\N\t"
                    f"{at}\t{at}\n"
                )
                if quiz and full:
                    ev_id += 1
                    ev.append(
                        f"{ev_id}\t{uid}\tquiz_pass\t10\t10\tquiz_pass:{uid}:{lesson_id}\t"
                        f"{dt[d]}\t{lesson_id}\t{{}}\t{at}\n"
                    )
            # the streak: runs of consecutive counted days (days ago falling one by one)
            streak = longest = run = 0
            started = prev = None
            for c_day in counted:
                run = run + 1 if prev is not None and prev - c_day == 1 else 1
                if run == 1:
                    started = c_day
                longest = max(longest, run)
                prev = c_day
            if counted and counted[-1] <= 1:
                streak = run
            last_counted = dt[counted[-1]] if counted else "\\N"
            streak_started = dt[started] if streak and started is not None else "\\N"
            level = min(len(level_done_at) + 1, top_level)
            stats.append(
                f"{uid}\t{streak}\t{longest}\t{streak_started}\t{last_counted}\t{yesterday}\t"
                f"0\t0\t{level}\t0\n"
            )
            if mentor:
                ms_id += 1
                hamlet = ctx.unit_of[uid]
                if 1 in level_done_at:
                    ment.append(
                        f"{ms_id}\t{uid}\t1\tactive\t{ctx.path[hamlet]}\t{level_done_at[1]}\t\t"
                        f"{level_done_at[1]}\n"
                    )
                else:
                    ment.append(f"{ms_id}\t{uid}\t1\tpending\t{ctx.path[hamlet]}\t\\N\t\t{dt[0]}\n")
            if uid % 2000 == 0:
                for s in streams.values():
                    if len(s.buf) >= 20_000:
                        s.flush()
        for s in streams.values():
            s.close()
    finally:
        for s in streams.values():
            with contextlib.suppress(Exception):
                s.conn.close()
    with psycopg.connect(libpq(url)) as conn:
        for seq, value in (
            ("submissions_id_seq", sub_id),
            ("point_events_id_seq", ev_id),
            ("certificates_id_seq", cert_id),
            ("mentorships_id_seq", ms_id),
        ):
            conn.execute("SELECT setval(%s, %s)", (seq, max(value, 1)))
    registered = [0] * ctx.days  # how many had joined by each day (days ago)
    for uid in range(1, n + 1):
        registered[first[uid]] += 1
    for d in range(ctx.days - 2, -1, -1):
        registered[d] += registered[d + 1]
    shares = [active_days[d] / registered[d] for d in range(ctx.days) if registered[d]]
    ctx.active_share = sum(shares) / len(shares) if shares else 0.0
    return ", ".join(f"{s.rows:,} {s.table}" for s in streams.values())


def load(url: str, args: argparse.Namespace, ctx: Context, steps: Steps) -> None:
    rng = random.Random(args.seed)
    steps.run("schema (alembic upgrade head)", upgrade, url)
    engine = make_engine(url)
    state: dict[str, Any] = {}
    steps.run("unit tree and learner groups", tree_and_groups, engine, rng, state)
    steps.run("curriculum (sync_curriculum)", lessons_and_levels, engine, ctx)
    tree: Tree = state["tree"]
    people = People(args.learners)
    with psycopg.connect(libpq(url)) as conn:
        saved = steps.run("drop secondary indexes and constraints", drop_secondary, conn, LOADED)
        steps.run(
            "COPY users + learner_stats",
            copy_users,
            conn,
            args.learners,
            tree,
            state["groups"],
            people,
            rng,
            ctx.days,
            ctx.today,
        )
        steps.run("accounts' units, roles and names", accounts, engine, ctx, args.learners)
        steps.run(
            "COPY study days, progress, submissions, ledger, certificates, stats, mentorships",
            learn,
            url,
            args.learners,
            ctx,
            people,
            rng,
            args.ledger,
        )
        steps.run("recreate indexes and constraints", recreate_secondary, conn, saved)
    steps.run("target populations (units, unit_targets)", set_targets, url, state["groups"], rng)
    months = sorted({periods.month_key(START + timedelta(days=i)) for i in range(ctx.days + 1)})
    steps.run("month tallies (ledger.rebuild_tallies)", rebuild_tallies, engine, months)
    steps.run("VACUUM ANALYZE, CHECKPOINT", vacuum, url)
    steps.run("report rollups, every day (rollups.refresh, full)", build_rollups, engine, ctx)
    steps.run("VACUUM ANALYZE the rollups", vacuum, url)
    engine.dispose()


def build_rollups(engine: Engine, ctx: Context) -> str:
    settings = Settings(environment="test", secret_key="bench-reports-" + "x" * 32)
    with Session(engine) as session:
        done = rollups.refresh(session, settings, today=ctx.today, full=True)
        session.commit()
        sizes = session.execute(
            text(
                "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
                "WHERE relname IN ('report_days', 'report_level_days', 'report_active_days')"
            )
        ).all()
    assert done is not None
    return f"{done.days} days, {done.seconds / done.days:.2f} s a day; " + ", ".join(
        f"{name} {size}" for name, size in sorted(sizes)
    )


SHAPE_TABLES = (
    "users",
    "units",
    "unit_targets",
    "learner_stats",
    "study_days",
    "lesson_progress",
    "submissions",
    "point_events",
    "certificates",
    "mentorships",
)


def shape(engine: Engine) -> tuple[str, list[tuple[str, int, str]]]:
    rows = []
    with Session(engine) as session:
        for table in SHAPE_TABLES:
            count = session.scalar(text(f"SELECT count(*) FROM {table}"))
            size = session.scalar(text(f"SELECT pg_size_pretty(pg_total_relation_size('{table}'))"))
            rows.append((table, int(count or 0), str(size)))
        db = session.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
        extra = session.execute(
            text(
                "SELECT (SELECT count(*) FROM point_events WHERE kind = 'level_complete'), "
                "(SELECT count(*) FROM certificates WHERE status = 'issued'), "
                "(SELECT count(*) FROM certificates WHERE status = 'revoked'), "
                "(SELECT count(*) FROM certificates WHERE status = 'pending'), "
                "(SELECT count(*) FROM mentorships WHERE status = 'active'), "
                "(SELECT count(*) FROM lesson_progress WHERE completed_at IS NOT NULL), "
                "(SELECT min(day) FROM study_days), (SELECT max(day) FROM study_days)"
            )
        ).one()
    text_ = (
        f"database {db}; {extra[0]:,} level completions, certificates {extra[1]:,} issued / "
        f"{extra[2]:,} revoked / {extra[3]:,} pending, {extra[4]:,} active mentorships, "
        f"{extra[5]:,} lessons completed; study days {extra[6]} to {extra[7]}"
    )
    return text_, rows


# ---- measuring ------------------------------------------------------------------------------
class StatementLog:
    """Every SQL statement's time on the engine while `on`: (ns, statement, parameters)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.on = False
        self.rows: list[tuple[int, str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, _stmt: str, _params: Any, *_a: Any) -> None:
        conn.info.setdefault("bench_t0", []).append(time.perf_counter_ns())

    def _after(self, conn: Any, _cursor: Any, stmt: str, params: Any, *_a: Any) -> None:
        took = time.perf_counter_ns() - conn.info["bench_t0"].pop()
        if self.on:
            self.rows.append((took, stmt, params))

    def capture(self, fn: Callable[[], Any]) -> tuple[int, list[tuple[int, str, Any]]]:
        """One call's wall time (ns) and its statements, slowest first."""
        self.rows, self.on = [], True
        t0 = time.perf_counter_ns()
        try:
            fn()
        finally:
            self.on = False
        return time.perf_counter_ns() - t0, sorted(self.rows, key=lambda r: -r[0])

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def one_line(sql: str, limit: int = 600) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def explain(engine: Engine, stmt: str, params: Any) -> str:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + stmt, params).all()
        conn.rollback()
    return "\n".join(r[0] for r in rows)


def time_runs(fn: Callable[[], Any], samples: int) -> list[int]:
    fn()  # warm-up
    out = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - t0)
    return out


def pick_units(engine: Engine) -> dict[str, tuple[int, str, int]]:
    """The province (root), the biggest commune and the biggest hamlet in it (by learners):
    (unit id, name, learners)."""
    with Session(engine) as session:
        province = session.execute(
            text("SELECT id, name FROM units WHERE parent_id IS NULL ORDER BY id LIMIT 1")
        ).one()
        commune = session.execute(
            text(
                "SELECT c.id, c.name, count(*) FROM users u JOIN units h ON h.id = u.unit_id "
                "JOIN units c ON c.id = h.parent_id WHERE c.parent_id = :p "
                "GROUP BY c.id, c.name ORDER BY 3 DESC, 1 LIMIT 1"
            ),
            {"p": province[0]},
        ).one()
        hamlet = session.execute(
            text(
                "SELECT h.id, h.name, count(*) FROM users u JOIN units h ON h.id = u.unit_id "
                "WHERE h.parent_id = :c GROUP BY h.id, h.name ORDER BY 3 DESC, 1 LIMIT 1"
            ),
            {"c": commune[0]},
        ).one()
        everyone = session.scalar(text("SELECT count(*) FROM users"))
    return {
        "province": (province[0], province[1], int(everyone or 0)),
        "commune": (commune[0], commune[1], int(commune[2])),
        "hamlet": (hamlet[0], hamlet[1], int(hamlet[2])),
    }


def quarter_of(day: date) -> tuple[int, int, date]:
    quarter = (day.month - 1) // 3 + 1
    return day.year, quarter, date(day.year, 3 * quarter - 2, 1)


def measure(
    engine: Engine,
    settings: Settings,
    today: date,
    samples: int,
    log: StatementLog,
    report: list[str],
) -> tuple[list[tuple[str, str, list[int], float | None]], bool]:
    """The cases; each row (case, what, timings, target ms or None)."""
    from app.reports import figures as report_figures

    units = pick_units(engine)
    year, quarter, q_start = quarter_of(today)
    last_30 = today - timedelta(days=29)
    cases = [
        ("province, last 30 days", "province", last_30),
        (f"province, {year} Q{quarter} to date", "province", q_start),
        ("commune, last 30 days", "commune", last_30),
        ("hamlet, last 30 days", "hamlet", last_30),
    ]
    for name, (uid, title, learners) in units.items():
        print(f"  {name}: {title} (unit {uid}, {learners:,} accounts)")
    out: list[tuple[str, str, list[int], float | None]] = []

    def dashboard_call(unit_id: int, start: date) -> Callable[[], Any]:
        def call() -> Any:
            with Session(engine) as session:
                unit = session.get(Unit, unit_id)
                return report_figures.dashboard(
                    session, unit=unit, start=start, end=today, settings=settings
                )

        return call

    def refresh_call() -> None:
        with Session(engine) as session:
            rollups.refresh(session, settings, today=today)
            session.commit()

    values = time_runs(refresh_call, max(3, samples // 4))
    n, p50, p99, top = figures(values)
    print(f"  rollups refresh (yesterday, today) p50 {p50:8.1f} p99 {p99:8.1f} ms (n={n})")
    out.append(("rollups: the sweep's refresh (yesterday and today)", "refresh", values, None))
    moved = move_learners(engine, settings, today, MOVED, units["commune"][0])
    out.append(
        (f"rollups: refresh after {MOVED:,} learners moved unit (and back)", "moves", moved, None)
    )

    for label, which, start in cases:
        values = time_runs(dashboard_call(units[which][0], start), samples)
        n, p50, p99, top = figures(values)
        print(f"  dashboard {label:32} p50 {p50:8.1f} p99 {p99:8.1f} max {top:8.1f} ms (n={n})")
        out.append((f"dashboard: {label}", "figures.dashboard", values, TARGET_MS["dashboard"]))

    # the slowest statements of one dashboard call (the province, the quarter)
    slow = log.capture(dashboard_call(units["province"][0], q_start))
    report.append(slow_statements(engine, "figures.dashboard (province, quarter to date)", slow))

    try:
        from app.reports import quarterly
    except ImportError as exc:  # the module is not there yet
        print(f"  quarterly report: not measured ({exc})")
        report.append(f"Quarterly report: not measured ({exc}).")
        return out, True
    parts: dict[str, list[int]] = defaultdict(list)
    sizes: dict[str, int] = {}
    province_id = units["province"][0]

    def report_once(record: bool) -> None:
        clock = time.perf_counter_ns
        with Session(engine) as session:
            unit = session.get(Unit, province_id)
            t0 = clock()
            built = quarterly.build(
                session, unit=unit, year=year, quarter=quarter, settings=settings
            )
            t1 = clock()
        xlsx = quarterly.to_xlsx(built)
        t2 = clock()
        pdf = quarterly.to_pdf(built)
        t3 = clock()
        csv = quarterly.to_csv(built)
        t4 = clock()
        if record:
            parts["build"].append(t1 - t0)
            parts["to_xlsx"].append(t2 - t1)
            parts["to_pdf"].append(t3 - t2)
            parts["to_csv"].append(t4 - t3)
            parts["build + XLSX + PDF"].append(t3 - t0)
            for name, body in (("xlsx", xlsx), ("pdf", pdf), ("csv", csv)):
                sizes[name] = len(body.encode() if isinstance(body, str) else body)

    report_once(False)
    for _ in range(samples):
        report_once(True)
    for part, values in parts.items():
        n, p50, p99, top = figures(values)
        print(f"  report {part:20} p50 {p50:8.1f} p99 {p99:8.1f} max {top:8.1f} ms (n={n})")
        target = TARGET_MS["report"] if part == "build + XLSX + PDF" else None
        out.append((f"quarterly report {year} Q{quarter}, province: {part}", part, values, target))
    report.append(
        "Quarterly report files: "
        + ", ".join(f"{k.upper()} {v / 1024:,.0f} KiB" for k, v in sizes.items())
    )

    def build_once() -> None:
        with Session(engine) as session:
            unit = session.get(Unit, province_id)
            quarterly.build(session, unit=unit, year=year, quarter=quarter, settings=settings)

    slow = log.capture(build_once)
    report.append(slow_statements(engine, f"quarterly.build ({year} Q{quarter}, province)", slow))
    return out, False


def move_learners(
    engine: Engine, settings: Settings, today: date, count: int, commune_id: int
) -> list[int]:
    """Move `count` learners of the biggest commune to a hamlet of another commune (as an
    admin would, through the ORM), refresh, then move them back and refresh again; the
    two refreshes' times (each also rebuilds yesterday and today)."""
    from app.models import Role, UnitType, User

    with Session(engine) as session:
        commune_path = session.get(Unit, commune_id).path
        target = session.scalar(
            select(Unit.id)
            .where(Unit.type == UnitType.hamlet, ~Unit.path.startswith(commune_path))
            .limit(1)
        )
        people = session.scalars(
            select(User)
            .join(Unit, Unit.id == User.unit_id)
            .where(Unit.path.startswith(commune_path), User.role == Role.learner)
            .order_by(User.id)
            .limit(count)
        ).all()
        home = {u.id: u.unit_id for u in people}
    timings = []
    for there in (True, False):
        with Session(engine) as session:
            for user in session.scalars(select(User).where(User.id.in_(list(home)))):
                user.unit_id = target if there else home[user.id]
            session.commit()
        with Session(engine) as session:
            t0 = time.perf_counter_ns()
            done = rollups.refresh(session, settings, today=today)
            session.commit()
            timings.append(time.perf_counter_ns() - t0)
        print(
            f"  refresh after moving {count:,} learners {'away' if there else 'back'}: "
            f"{timings[-1] / 1e6:,.0f} ms ({done.moved if done else 0} moved)"
        )
    return timings


def slow_statements(
    engine: Engine, label: str, captured: tuple[int, list[tuple[int, str, Any]]]
) -> str:
    wall, rows = captured
    total = sum(r[0] for r in rows) / 1e6
    lines = [
        f"Slowest SQL statements of one {label}: {len(rows)} statements, {total:.0f} ms in "
        f"SQL (execute, not fetching) of {wall / 1e6:.0f} ms for the whole call"
    ]
    lines.append("")
    for i, (took, stmt, params) in enumerate(rows[:5], 1):
        lines.append(f"{i}. {took / 1e6:.1f} ms: `{one_line(stmt)}`")
        if params:
            lines.append(f"   parameters: {one_line(repr(params), 300)}")
    if rows:
        try:
            plan = explain(engine, rows[0][1], rows[0][2])
        except Exception as exc:  # a plan is a bonus, not a result
            plan = f"(EXPLAIN failed: {exc})"
        lines += ["", "EXPLAIN (ANALYZE, BUFFERS) of the slowest:", "", "```", plan, "```"]
    text_ = "\n".join(lines)
    print()
    print(text_)
    print()
    return text_


# ---- the report -----------------------------------------------------------------------------
def summary(
    results: list[tuple[str, str, list[int], float | None]],
    steps: Steps,
    shape_text: str,
    table_rows: list[tuple[str, int, str]],
    notes: list[str],
) -> tuple[str, bool]:
    lines = [f"Data: {shape_text}", ""]
    if steps.done:
        lines += ["| load step | time |", "| --- | --- |"]
        for label, secs, note in steps.done:
            lines.append(f"| {label}{f' ({note})' if note else ''} | {secs:.1f} s |")
        lines.append(f"| **total** | {sum(s for _, s, _ in steps.done):.0f} s |")
        lines.append("")
    lines += ["| table | rows | size |", "| --- | --- | --- |"]
    lines += [f"| {t} | {n:,} | {size} |" for t, n, size in table_rows]
    lines.append("")
    missed = False
    lines += [
        "| case | n | p50 ms | p99 ms | max ms | target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, _what, values, target in results:
        n, p50, p99, top = figures(values)
        mark = ""
        if target is not None:
            mark = f"< {target:g} ms p99 {verdict(p99, target)}"
            missed |= p99 >= target
        lines.append(f"| {label} | {n} | {p50:.1f} | {p99:.1f} | {top:.1f} | {mark} |")
    lines += ["", *notes]
    return "\n".join(lines), missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20, help="timed runs per case")
    parser.add_argument(
        "--ledger",
        choices=("levels", "lessons", "full"),
        default="lessons",
        help="point events loaded besides level_complete",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--reuse", action="store_true", help="measure an already loaded database")
    parser.add_argument("--load-only", action="store_true", help="load and print the shape only")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    url = args.pg_url
    settings = Settings(
        environment="test", secret_key="bench-reports-" + "x" * 32, database_url=url
    )
    tz = settings.tz
    now = datetime.now(tz)
    today = now.date()
    ctx = Context(today, now)
    steps = Steps()
    admin = admin_engine(url)
    with admin.connect() as conn:
        pg_version = conn.scalar(text("SHOW server_version"))
        buffers = conn.scalar(text("SHOW shared_buffers"))
        work_mem = conn.scalar(text("SHOW work_mem"))
    admin.dispose()
    print(
        f"{machine()}; PostgreSQL {pg_version} (shared_buffers {buffers}, work_mem {work_mem}); "
        f"today {today} ({tz.key}); the programme from {START} ({ctx.days} days)"
    )
    missed = unmeasured = False
    try:
        if args.reuse and database_exists(url):
            print(f"reusing {make_url(url).database} (not loaded again)")
        else:
            print(f"loading {args.learners:,} learners into {make_url(url).database}")
            create_database(url)
            load(url, args, ctx, steps)
            print(
                f"  learners active on a day: {ctx.active_share:.1%} of those registered by "
                "then (mean)"
            )
        engine = make_engine(url)
        shape_text, table_rows = shape(engine)
        print(shape_text)
        for table, count, size in table_rows:
            print(f"  {table:16} {count:12,} rows {size:>10}")
        results: list[tuple[str, str, list[int], float | None]] = []
        notes: list[str] = []
        if not args.load_only:
            try:
                import app.reports.figures  # noqa: F401
            except ImportError as exc:
                print(f"not measured: {exc}")
                unmeasured = True
            else:
                log = StatementLog(engine)
                before = load_average()
                print(f"measuring ({args.samples} runs per case after a warm-up)")
                results, unmeasured = measure(engine, settings, today, args.samples, log, notes)
                log.close()
                notes.append(
                    f"Load average (1, 5, 15 min) {before} before, {load_average()} after."
                )
        table, missed = summary(results, steps, shape_text, table_rows, notes)
        print()
        print(f"## Reports: {machine()}, PostgreSQL {pg_version}")
        print()
        print(table)
        if missed:
            print("\nSome targets were missed (MISS above).")
        if unmeasured:
            print("\nThe quarterly report was not measured (app.reports.quarterly missing).")
        engine.dispose()
    finally:
        if not args.keep:
            drop_database(url)
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
