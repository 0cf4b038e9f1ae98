"""How fast a unit admin's learner list imports, and how fast sign-in is.

Run: .venv/bin/python bench/imports.py [ROWS] [DATABASE_URL]
Prints rows per second for a first import (accounts created with temporary passwords) and
a second, unchanged import of the same file, the peak memory, and sign-in latency.
"""

from __future__ import annotations

import csv
import io
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from sqlalchemy.orm import Session

from app.core.security import hash_password, verify_password
from app.db import make_engine
from app.migrations import upgrade
from app.models import UnitType
from app.orgs import imports
from app.orgs.service import create_unit, ensure_default_groups


def make_file(rows: int, unit_codes: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ho_ten", "so_dien_thoai", "ma_don_vi", "nhom"])
    for i in range(rows):
        writer.writerow(
            [f"Nguyễn Văn Thử {i}", f"09{i:08d}", unit_codes[i % len(unit_codes)], "Nông dân"]
        )
    return out.getvalue().encode()


def run(rows: int, url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        ensure_default_groups(session)
        province = create_unit(
            session, code="B-P", name="Tỉnh Bench", type=UnitType.province, parent=None
        )
        codes = []
        for c in range(20):
            commune = create_unit(
                session, code=f"B-C{c}", name=f"Xã {c}", type=UnitType.commune, parent=province
            )
            codes.append(commune.code)
        session.commit()
    data = make_file(rows, codes)
    for label in ("first import (creates)", "second import (unchanged)"):
        with Session(engine) as session:
            tracemalloc.start()
            start = time.perf_counter()
            result = imports.import_learners(
                session,
                filename="bench.csv",
                data=data,
                actor_id=None,
                actor_role="admin",
                scope_prefix="",
                max_bytes=50 * 1024 * 1024,
                max_rows=rows + 1,
            )
            job = result.job
            counts = (job.created_count, job.unchanged_count, job.error_count)
            session.commit()
            elapsed = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        print(
            f"{label:28s} {rows:6d} rows in {elapsed:6.2f} s = {rows / elapsed:8.0f} rows/s, "
            f"peak {peak / 2**20:6.1f} MiB, created/unchanged/errors {counts}"
        )
    engine.dispose()

    hashed = hash_password("hoc-AI-15-phut")
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        assert verify_password(hashed, "hoc-AI-15-phut")
        timings.append((time.perf_counter() - start) * 1000)
    print(
        f"argon2id verify (production cost): median {statistics.median(timings):.1f} ms, "
        f"max {max(timings):.1f} ms"
    )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    if len(sys.argv) > 2:
        run(n, sys.argv[2])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(n, f"sqlite:///{Path(tmp) / 'bench.db'}")
