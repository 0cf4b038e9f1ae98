"""Leaderboards in Redis sorted sets, kept in step with the ledger.

One sorted set per board: `{prefix}{period}:{scope}` with scope `all`, `u<unit id>` (one
for the learner's unit and for each unit above it), `g<group id>` or `l<level>`. A member
is an account id; its score packs the points and the tie order into one exact double,
`points * 2**30 + (2**30 - 1 - user id)`, so ZREVRANGE gives points descending and, on
equal points, ids ascending: the same order as SQL. A competition rank is ZCOUNT of the
scores of strictly more points, plus one.

After a transaction that changed points, a learner's level, unit or group commits, the
learners it touched are re-read from the database and written with absolute scores (ZADD,
never an increment), so a retried or repeated sync cannot drift. Where a learner sits
(unit path, group, level) is kept in one hash, so a move takes them off the old boards.
`rebuild` recomputes whole periods into fresh keys and swaps them in."""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import redis
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.gamification import periods
from app.gamification.boards import Board, Entry, seat_select
from app.models import PointEvent, PointTally, User
from app.models.orgs import path_ids

log = logging.getLogger(__name__)
SHIFT = 2**30
KEEP_DAYS = 40  # a week's or month's boards stay this long after the period ends
RESYNC_MARGIN = 10_000  # event ids before a rebuild's start that are re-synced after it


def pack(points: int, user_id: int) -> int:
    return points * SHIFT + (SHIFT - 1 - user_id)


def unpack(score: float) -> tuple[int, int]:
    value = int(score)
    points = value // SHIFT
    return points, SHIFT - 1 - (value - points * SHIFT)


def seat(path: str, group_id: int | None, level: int, active: bool) -> str:
    """Where a learner sits, as stored in the seats hash ('' = on no board)."""
    return f"{path}|{group_id or ''}|{level}" if active else ""


def suffixes(seat_: str) -> list[str]:
    if not seat_:
        return []
    path, group, level = seat_.split("|")
    out = ["all", *(f"u{uid}" for uid in path_ids(path))]
    if group:
        out.append(f"g{group}")
    out.append(f"l{level}")
    return out


# One round trip each for "my rank" (place, score, how many have more points) and for the
# neighbours (each with how many have more points than them). Scores are formatted with
# %.0f: Lua's tostring keeps only 14 digits.
ENTRY_LUA = f"""
local pos = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not pos then return false end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local pts = math.floor(tonumber(score) / {SHIFT})
local above = redis.call('ZCOUNT', KEYS[1], string.format('%.0f', (pts + 1) * {SHIFT}), '+inf')
return {{pos, score, above}}
"""
AROUND_LUA = f"""
local rows = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local counted, out = {{}}, {{}}
for i = 1, #rows, 2 do
  local pts = math.floor(tonumber(rows[i + 1]) / {SHIFT})
  if counted[pts] == nil then
    counted[pts] = redis.call('ZCOUNT', KEYS[1], string.format('%.0f', (pts + 1) * {SHIFT}), '+inf')
  end
  out[#out + 1] = {{rows[i], rows[i + 1], counted[pts]}}
end
return out
"""


class RedisBoards:
    def __init__(self, client: redis.Redis, prefix: str = "bdhai:lb:") -> None:
        self.r = client
        self.prefix = prefix
        self._entry = client.register_script(ENTRY_LUA)
        self._around = client.register_script(AROUND_LUA)

    # ---- keys ------------------------------------------------------------------------
    def key(self, period: str, suffix: str) -> str:
        return f"{self.prefix}{period}:{suffix}"

    def board_key(self, board: Board) -> str:
        return self.key(board.period, board.redis_suffix)

    @property
    def seats_key(self) -> str:
        return f"{self.prefix}seats"

    def _expire_at(self, period: str) -> int | None:
        if period == periods.ALL:
            return None
        last = periods.span(period).last + timedelta(days=KEEP_DAYS)
        return int(datetime.combine(last, time.min, tzinfo=UTC).timestamp())

    # ---- reads (the BoardStore protocol) ---------------------------------------------
    def top(self, session: Session, board: Board, limit: int = 50) -> list[Entry]:
        rows = self.r.zrevrange(self.board_key(board), 0, limit - 1, withscores=True)
        out: list[Entry] = []
        for i, (_member, score) in enumerate(rows):
            pts, uid = unpack(score)
            rank = out[-1].rank if out and out[-1].points == pts else i + 1
            out.append(Entry(uid, pts, i + 1, rank))
        return out

    def entry(self, session: Session, board: Board, user_id: int) -> Entry | None:
        found = self._entry(keys=[self.board_key(board)], args=[user_id])
        if not found:
            return None
        pos, score, above = found
        pts, _ = unpack(float(score))
        return Entry(user_id, pts, int(pos) + 1, int(above) + 1)

    def around(self, session: Session, board: Board, entry: Entry, k: int) -> list[Entry]:
        start = max(0, entry.position - 1 - k)
        rows = self._around(keys=[self.board_key(board)], args=[start, entry.position - 1 + k])
        out = []
        for i, (_member, score, above) in enumerate(rows):
            pts, uid = unpack(float(score))
            out.append(Entry(uid, pts, start + i + 1, int(above) + 1))
        return out

    def size(self, session: Session, board: Board) -> int:
        return int(self.r.zcard(self.board_key(board)))

    # ---- writes ----------------------------------------------------------------------
    def sync(self, session: Session, user_ids: Iterable[int], today: date) -> None:
        """Write the current scores of these learners on every board of the current
        week, month and all time, and take them off boards they no longer sit on."""
        ids = sorted(set(user_ids))
        if not ids:
            return
        keys = [periods.ALL, periods.week_key(today), periods.month_key(today)]
        members = session.execute(seat_select().where(User.id.in_(ids))).all()
        tallies: dict[tuple[int, str], int] = {
            (uid, period): pts
            for uid, period, pts in session.execute(
                select(PointTally.user_id, PointTally.period, PointTally.points).where(
                    PointTally.user_id.in_(ids), PointTally.period.in_(keys)
                )
            )
        }
        old_seats = dict(zip(ids, self.r.hmget(self.seats_key, [str(i) for i in ids]), strict=True))
        pipe = self.r.pipeline(transaction=False)
        for uid, listed, path, group_id, level in members:
            new_seat = seat(path, group_id, int(level), bool(listed))
            old = old_seats.get(uid)
            old_seat = old.decode() if isinstance(old, bytes) else (old or "")
            new_sfx = suffixes(new_seat)
            gone = set(suffixes(old_seat)) - set(new_sfx)
            for period in keys:
                pts = tallies.get((uid, period), 0)
                for sfx in gone:
                    pipe.zrem(self.key(period, sfx), uid)
                for sfx in new_sfx:
                    key = self.key(period, sfx)
                    if pts > 0:
                        pipe.zadd(key, {str(uid): pack(pts, uid)})
                        if (at := self._expire_at(period)) is not None:
                            pipe.expireat(key, at)
                    else:
                        pipe.zrem(key, uid)
            if new_seat:
                pipe.hset(self.seats_key, str(uid), new_seat)
            else:
                pipe.hdel(self.seats_key, str(uid))
        pipe.execute()

    def rebuild(
        self, session: Session, period_keys: list[str], *, today: date, batch: int = 20_000
    ) -> int:
        """Recompute the boards of these periods from the tallies into fresh keys, swap
        them in, drop boards left empty, and re-sync whoever earned points meanwhile.
        Returns the number of (learner, period) scores written."""
        # awards committed while this runs are re-synced at the end: those above the newest
        # event id seen now, less a margin for transactions that held a smaller id and had
        # not committed yet (ids are handed out before commit)
        last_id = (session.scalar(select(func.max(PointEvent.id))) or 0) - RESYNC_MARGIN
        token = secrets.token_hex(4)
        tmp = f"{self.prefix}tmp:{token}:"
        written = 0
        built: set[tuple[str, str]] = set()
        members = session.execute(seat_select()).yield_per(batch)
        seats: dict[int, str] = {}
        for chunk in members.partitions(batch):
            pipe = self.r.pipeline(transaction=False)
            for uid, listed, path, group_id, level in chunk:
                s = seat(path, group_id, int(level), bool(listed))
                seats[uid] = s
                if s:
                    pipe.hset(f"{tmp}seats", str(uid), s)
            pipe.execute()
        for period in period_keys:
            rows = session.execute(
                select(PointTally.user_id, PointTally.points)
                .where(PointTally.period == period, PointTally.points > 0)
                .order_by(PointTally.user_id)
            ).yield_per(batch)
            for chunk in rows.partitions(batch):
                by_key: dict[str, dict[str, int]] = defaultdict(dict)
                for uid, pts in chunk:
                    for sfx in suffixes(seats.get(uid, "")):
                        by_key[sfx][str(uid)] = pack(pts, uid)
                        written += 1
                pipe = self.r.pipeline(transaction=False)
                for sfx, mapping in by_key.items():
                    pipe.zadd(f"{tmp}{period}:{sfx}", mapping)
                    built.add((period, sfx))
                pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for period, sfx in built:
            pipe.rename(f"{tmp}{period}:{sfx}", self.key(period, sfx))
            if (at := self._expire_at(period)) is not None:
                pipe.expireat(self.key(period, sfx), at)
        if any(seats.values()):
            pipe.rename(f"{tmp}seats", self.seats_key)
        else:
            pipe.delete(self.seats_key)
        pipe.execute()
        for period in period_keys:  # boards that have no member any more
            stale = [
                k
                for k in self.r.scan_iter(match=f"{self.prefix}{period}:*", count=1000)
                if (period, k.decode().rsplit(":", 1)[1]) not in built
            ]
            if stale:
                self.r.delete(*stale)
        moved = session.scalars(
            select(PointEvent.user_id).where(PointEvent.id > last_id).distinct()
        ).all()
        if moved:
            self.sync(session, moved, today)
        return written


@lru_cache(maxsize=4)
def boards_for_url(url: str) -> RedisBoards:
    return RedisBoards(redis.Redis.from_url(url))


def _after_commit(session: Session) -> None:
    # the hook also fires when a SAVEPOINT is released (the ledger, badges and leagues use
    # them): only the real commit syncs, or the learners would be synced too early (with
    # the old tallies, read from another connection) and forgotten before the commit
    if session.in_nested_transaction():
        return
    touched: set[int] | None = session.info.pop("boards_touched", None)
    store: RedisBoards | None = session.info.get("boards")
    if not touched or store is None:
        return
    tz = session.info.get("tz")
    today = datetime.now(tz).date() if tz else datetime.now(UTC).date()
    try:
        with Session(bind=session.get_bind()) as reader:
            store.sync(reader, touched, today)
    except (redis.RedisError, OSError) as exc:  # the ledger is right; a rebuild mends Redis
        log.warning("leaderboard sync to Redis failed for %d learners: %s", len(touched), exc)


def _after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():  # a SAVEPOINT rolled back keeps the rest
        session.info.pop("boards_touched", None)


event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_rollback", _after_rollback)


def session_info(redis_url: str | None, tz: Any) -> dict[str, Any]:
    """What a session factory carries so commits keep Redis boards in step."""
    return {"boards": boards_for_url(redis_url), "tz": tz} if redis_url else {"tz": tz}
