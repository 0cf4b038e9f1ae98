"""The `bdhai` command: migrate, demo data, administrators and imports."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker


def _sessions(settings: Settings):  # type: ignore[no-untyped-def]
    from app.gamification.redis_boards import session_info

    engine = make_engine(settings.database_url)
    return make_sessionmaker(engine, session_info(settings.redis_url, settings.tz))


def _session():  # type: ignore[no-untyped-def]
    return _sessions(get_settings())()


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.migrations import upgrade
    from app.orgs.service import ensure_default_groups

    settings = get_settings()
    if settings.is_sqlite:
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    upgrade(settings.database_url)
    with _session() as session:
        ensure_default_groups(session)
        session.commit()
    print("database at the newest migration")
    return 0


def cmd_load_demo(args: argparse.Namespace) -> int:
    from app.demo import load_demo

    if get_settings().environment == "production":
        print("refusing to load demo accounts when ENVIRONMENT=production", file=sys.stderr)
        return 2
    with _session() as session:
        created = load_demo(session, get_settings())
        session.commit()
    print("demo data loaded" if created else "demo data already present")
    return 0


def cmd_demo_info(args: argparse.Namespace) -> int:
    from app.demo import demo_info

    print(demo_info(args.url))
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app.auth.service import create_user
    from app.core.errors import AppError
    from app.models import Role, Unit, UnitType
    from app.orgs.service import create_unit, get_unit_by_code

    password = args.password or getpass.getpass("Password: ")
    with _session() as session:
        unit = get_unit_by_code(session, args.unit_code) if args.unit_code else None
        if unit is None:
            unit = session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
        if unit is None:
            unit = create_unit(
                session,
                code=args.unit_code or "ROOT",
                name=args.unit_name,
                type=UnitType.province,
                parent=None,
            )
        try:
            phone = email = None
            if "@" in args.login:
                from app.core.validation import normalize_email

                email = normalize_email(args.login)
            else:
                from app.core.validation import normalize_phone

                phone = normalize_phone(args.login)
            create_user(
                session,
                full_name=args.name,
                phone=phone,
                email=email,
                password=password,
                unit_id=unit.id,
                group_id=None,
                role=Role.admin,
            )
        except (AppError, ValueError) as exc:
            print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
            return 2
        session.commit()
    print(f"administrator {args.login} created in unit {unit.code}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app.core.errors import AppError
    from app.models import Role, User
    from app.orgs import imports

    settings = get_settings()
    data = Path(args.file).read_bytes()
    with _session() as session:
        actor = session.scalar(select(User).where(User.role == Role.admin).order_by(User.id))
        if actor is None:
            print("error: create an administrator first (bdhai create-admin)", file=sys.stderr)
            return 2
        common = {
            "filename": Path(args.file).name,
            "data": data,
            "actor_id": actor.id,
            "scope_prefix": "",
            "import_valid_rows": args.valid_rows,
            "dry_run": args.dry_run,
            "max_bytes": settings.import_max_bytes,
            "max_rows": settings.import_max_rows,
        }
        try:
            if args.kind == "units":
                result = imports.import_units(session, **common)
            else:
                result = imports.import_learners(session, actor_role=Role.admin, **common)
        except AppError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        job = result.job
        session.commit()
    for error in job.errors:
        print(f"{args.file}:{error['line']}: {error['message']}")
    print(
        f"{job.status.value}: {job.total_rows} rows, {job.created_count} created, "
        f"{job.updated_count} updated, {job.unchanged_count} unchanged, {job.error_count} errors"
    )
    for cred in result.credentials:
        print(f"{cred['login']}\t{cred['temporary_password']}\t{cred['full_name']}")
    return 1 if job.error_count and job.status.value == "rejected" else 0


def cmd_curriculum(args: argparse.Namespace) -> int:
    from app.curriculum.validate import read_curriculum

    root = Path(args.dir) if args.dir else get_settings().curriculum_dir
    curriculum, problems = read_curriculum(root)
    for problem in problems:
        print(f"{root / problem.path}:{problem.line}: {problem.message}", flush=True)
    if curriculum is None:
        print(f"{len(problems)} problem(s); nothing loaded", file=sys.stderr)
        return 1
    lessons = curriculum.lessons()
    if args.verbose:
        for level, item in lessons:
            lesson = item.lesson
            print(
                f"{level.level.number} {item.position:2d} {lesson.id:40s} "
                f"{lesson.reading_words():4d} words  ~{lesson.estimated_minutes():4.1f} of "
                f"{lesson.minutes} min  {len(lesson.quiz.questions)} questions"
            )
    if args.action == "validate":
        print(f"ok: {len(curriculum.levels)} levels, {len(lessons)} lessons")
        return 0
    from app.curriculum.loader import sync_curriculum

    with _session() as session:
        report = sync_curriculum(session, curriculum)
        session.commit()
    print(report.summary())
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Grade submissions from the Redis queue until stopped (SIGTERM/SIGINT)."""
    import asyncio
    import logging
    import signal

    from app.grading.engine import GradingEngine

    settings = get_settings()
    if args.concurrency:
        settings = settings.model_copy(update={"grading_concurrency": args.concurrency})
    if not settings.redis_url:
        print(
            "error: bdhai worker needs REDIS_URL (without it the web process grades)",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("taskiq").setLevel(logging.WARNING)  # not a line per grading
    sessions = _sessions(settings)

    async def run() -> None:
        grading = GradingEngine(settings, sessions, external=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await grading.start(consume=True, relay=True)
        print(
            f"grading worker: grader={settings.grader}, concurrency={settings.grading_concurrency}",
            flush=True,
        )
        await stop.wait()
        await grading.stop()
        s = grading.stats
        print(
            f"stopped: {s.graded} graded, {s.reused} reused, {s.retried} retried, {s.failed} failed"
        )

    asyncio.run(run())
    sessions.kw["bind"].dispose()
    return 0


def cmd_grade_eval(args: argparse.Namespace) -> int:
    import json

    from app.grading.evaluation import build_eval_set, evaluate_file

    settings = get_settings()
    if args.build:
        items = build_eval_set(settings.curriculum_dir)
        Path(args.file).write_text(
            "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8"
        )
        print(f"{len(items)} items written to {args.file}")
        return 0
    if args.grader:
        settings = settings.model_copy(update={"grader": args.grader})
    from app.core.errors import AppError

    try:
        report = evaluate_file(
            Path(args.file), settings=settings, curriculum_dir=settings.curriculum_dir
        )
    except (AppError, OSError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    print(report.render())
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Recompute the tallies of the given periods from the ledger, then the Redis boards
    (when REDIS_URL is set) from those tallies."""
    from app.core.clock import local_day
    from app.gamification import periods
    from app.gamification.ledger import rebuild_tallies
    from app.gamification.redis_boards import boards_for_url
    from app.models import utcnow

    settings = get_settings()
    today = local_day(utcnow(), settings.tz)
    keys = []
    for name in args.period or ["all", "week", "month"]:
        key = periods.key_for(name, today) if name in periods.PERIOD_NAMES else name
        try:
            periods.span(key)
        except ValueError:
            print(f"unknown period {name!r}: all, week, month, 2026-W48, 2026-11 or 2026-11-23")
            return 2
        keys.append(key)
    with _sessions(settings)() as session:
        rows = rebuild_tallies(session, keys)
        session.commit()
        print(f"tallies: {rows} rows for {', '.join(keys)}")
        if settings.redis_url:
            board_keys = [k for k in keys if len(k) != 10]  # days have no boards
            written = boards_for_url(settings.redis_url).rebuild(session, board_keys, today=today)
            print(f"redis: {written} scores written")
    return 0


def cmd_leagues(args: argparse.Namespace) -> int:
    from app.core.clock import local_day
    from app.gamification import leagues
    from app.models import utcnow

    settings = get_settings()
    now = utcnow()
    with _sessions(settings)() as session:
        if args.week:
            closed = leagues.close_week(session, week=args.week, settings=settings, now=now)
        else:
            today = local_day(now, settings.tz)
            closed = leagues.close_ended_weeks(session, today=today, settings=settings, now=now)
        session.commit()
    print(f"closed {closed} league cohorts")
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    """Rebuild the report rollups: the stale days, or every day with --full."""
    from app.reports import rollups

    settings = get_settings()
    with _sessions(settings)() as session:
        done = rollups.refresh(session, settings, full=args.full)
        session.commit()
    if done is None:
        print("another process is refreshing the report rollups")
        return 1
    print(f"report rollups: {done.days} days ({done.first} to {done.last}) in {done.seconds:.1f} s")
    return 0


def cmd_certificates(args: argparse.Namespace) -> int:
    from app.certificates import keys

    settings = get_settings()
    with _sessions(settings)() as session:
        if args.action == "rotate-key":
            key = keys.create_key(session, settings)
            session.commit()
            print(f"new signing key {key.kid}; earlier keys are retired and still verify")
        else:
            for kid, jwk in keys.public_keys(session).items():
                print(kid, jwk["crv"])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bdhai", description="Bình dân học AI platform")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade the database to the newest migration").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("load-demo", help="add the demo commune and accounts").set_defaults(
        func=cmd_load_demo
    )
    p = sub.add_parser("demo-info", help="print how to sign in to the demo")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the address being served")
    p.set_defaults(func=cmd_demo_info)
    p = sub.add_parser("create-admin", help="create an administrator account")
    p.add_argument("--login", required=True, help="phone number or e-mail")
    p.add_argument("--name", default="Quản trị hệ thống")
    p.add_argument("--password", help="prompted when omitted")
    p.add_argument(
        "--unit-code", help="the unit the admin belongs to (default: the first top unit)"
    )
    p.add_argument("--unit-name", default="Đơn vị gốc")
    p.set_defaults(func=cmd_create_admin)
    p = sub.add_parser("curriculum", help="check the lesson files or load them into the database")
    p.add_argument("action", choices=["validate", "load"])
    p.add_argument("dir", nargs="?", help="the curriculum folder (default: CURRICULUM_DIR)")
    p.add_argument("-v", "--verbose", action="store_true", help="list each lesson's timing")
    p.set_defaults(func=cmd_curriculum)
    p = sub.add_parser("worker", help="grade submissions from the Redis queue")
    p.add_argument("--concurrency", type=int, help="gradings at once (GRADING_CONCURRENCY)")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("grade-eval", help="measure a grader against hand-graded answers")
    p.add_argument("file", help="JSONL: question, reference_answers, answer, score, max_score")
    p.add_argument("--grader", choices=["rubric", "llm"], help="default: GRADER")
    p.add_argument(
        "--build", action="store_true", help="write the set built from the curriculum to FILE"
    )
    p.set_defaults(func=cmd_grade_eval)
    p = sub.add_parser("leaderboard", help="rebuild leaderboards from the points ledger")
    p.add_argument("action", choices=["rebuild"])
    p.add_argument(
        "--period",
        action="append",
        help="all, week, month or a key (2026-W48, 2026-11, 2026-11-23); repeatable; "
        "default: all, this week and this month",
    )
    p.set_defaults(func=cmd_leaderboard)
    p = sub.add_parser("leagues", help="close the weekly leagues of weeks that have ended")
    p.add_argument("action", choices=["close"])
    p.add_argument("--week", help="close this week now (e.g. 2026-W47)")
    p.set_defaults(func=cmd_leagues)
    p = sub.add_parser("reports", help="rebuild the dashboard's and reports' rollups")
    p.add_argument("--full", action="store_true", help="every day, not only the stale ones")
    p.set_defaults(func=cmd_reports)
    p = sub.add_parser("certificates", help="rotate or list the certificate signing keys")
    p.add_argument("action", choices=["rotate-key", "keys"])
    p.set_defaults(func=cmd_certificates)
    p = sub.add_parser("import", help="import units or learners from CSV/XLSX")
    p.add_argument("kind", choices=["units", "learners"])
    p.add_argument("file")
    p.add_argument(
        "--valid-rows", action="store_true", help="import the good rows of a file with errors"
    )
    p.add_argument("--dry-run", action="store_true", help="check only")
    p.set_defaults(func=cmd_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
