"""One Settings object, read from the environment (and an optional `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT_DIR = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["dev", "test", "production"] = "dev"
    secret_key: str = DEV_SECRET
    database_url: str = f"sqlite:///{ROOT_DIR / 'var' / 'bdhai.db'}"
    redis_url: str | None = None
    timezone: str = "Asia/Ho_Chi_Minh"
    base_url: str = "http://127.0.0.1:8000"

    # Grader: `rubric` (offline, deterministic) or `llm` (any OpenAI-compatible endpoint).
    grader: Literal["rubric", "llm"] = "rubric"
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    grader_model: str = "gpt-4o-mini"
    grader_vision: bool = False  # the model accepts images (level-2 pictures are sent)
    grader_structured: Literal["auto", "json_schema", "json_object"] = "auto"
    grader_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    grader_max_attempts: int = Field(default=3, ge=1, le=10)  # per grading, then `rubric`
    grader_seed: int = 20251
    grader_price_input_per_mtok: float = Field(default=0.0, ge=0)  # USD per 1M tokens
    grader_price_output_per_mtok: float = Field(default=0.0, ge=0)
    grader_daily_budget_usd: float | None = Field(default=None, ge=0)
    grader_breaker_failures: int = Field(default=5, ge=1)
    grader_breaker_cooldown_seconds: float = Field(default=30.0, ge=1)
    grader_low_confidence: float = Field(default=0.6, ge=0, le=1)
    near_duplicate_similarity: float = Field(default=0.8, gt=0, le=1)

    # The grading queue: `inprocess` (the embedded default), `external` (`bdhai worker`
    # processes on Redis) or `off`; unset = inprocess without REDIS_URL, external with it.
    grading_worker: Literal["inprocess", "external", "off"] | None = None
    # gradings in flight per process: about the wanted rate × the LLM's latency × 1.5
    grading_concurrency: int = Field(default=300, ge=1, le=2000)
    grading_lease_seconds: int = Field(default=300, ge=5)
    grading_max_attempts: int = Field(default=5, ge=1)
    grading_relay_seconds: float = Field(default=2.0, gt=0)
    grading_sweep_seconds: float = Field(default=15.0, gt=0)

    # Tokens
    access_token_minutes: int = Field(default=15, ge=1, le=120)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    password_reset_hours: int = Field(default=24, ge=1, le=168)

    # Sign-in rate limits: attempts per window, per account and per client address.
    login_max_per_account: int = 5
    login_max_per_address: int = 20
    login_window_seconds: int = 15 * 60
    # Registration limits (docs/auth.md): attempts per client address, and new accounts per
    # unit, in a window; they bound floods of accounts and what registering can tell about
    # which phone numbers are registered.
    register_max_per_address: int = Field(default=20, ge=1)
    register_max_per_unit: int = Field(default=200, ge=1)
    register_window_seconds: int = Field(default=3600, ge=60)

    # Requests and imports: a body larger than max_request_bytes is refused before it is read.
    max_request_bytes: int = 8 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024  # a JSON body (no form of ours needs more)
    import_max_bytes: int = 5 * 1024 * 1024
    import_max_rows: int = 20_000

    curriculum_dir: Path = ROOT_DIR / "curriculum"
    media_dir: Path = ROOT_DIR / "var" / "media"

    # A learner's day
    daily_goal_minutes: int = Field(default=15, ge=5, le=120)
    heartbeat_seconds: int = Field(default=20, ge=5, le=120)  # how often pages report activity
    daily_active_cap_minutes: int = Field(default=180, ge=15, le=1440)
    quiz_attempts_per_lesson_per_day: int = Field(default=10, ge=1, le=100)
    submissions_per_lesson_per_day: int = Field(default=3, ge=1, le=50)  # per kind
    submissions_per_hour: int = Field(default=30, ge=1, le=1000)  # per learner, all lessons
    upload_max_bytes: int = Field(default=6 * 1024 * 1024, ge=100_000)
    image_max_side: int = Field(default=1600, ge=200, le=4000)
    # pictures with more pixels than this are refused from their header, before decoding
    # (docs/capacity.md); below Pillow's own limit (89 MP), which then never fires first
    image_max_pixels: int = Field(default=24_000_000, ge=1_000_000, le=80_000_000)

    # Points (docs/gamification.md gives the reasoning behind each value)
    points_quiz_pass: int = Field(default=10, ge=0)
    points_lesson_complete: int = Field(default=50, ge=0)
    points_challenge_max: int = Field(default=30, ge=0)  # × best passing score / 100
    points_teach_back_max: int = Field(default=20, ge=0)  # × best passing score / 100
    points_effort: int = Field(default=2, ge=0)  # a graded, failed attempt: once a lesson a day
    points_daily_goal: int = Field(default=10, ge=0)
    points_level_complete: int = Field(default=200, ge=0)
    points_streak_7: int = Field(default=30, ge=0)
    points_streak_30: int = Field(default=150, ge=0)
    points_streak_100: int = Field(default=500, ge=0)
    points_league_promoted: int = Field(default=20, ge=0)
    points_mentor_review: int = Field(default=15, ge=0)
    points_answer_accepted: int = Field(default=10, ge=0)
    points_teach_back_featured: int = Field(default=30, ge=0)
    points_daily_cap: int = Field(default=400, ge=50)
    streak_freeze_every: int = Field(default=7, ge=2, le=60)
    streak_freeze_max: int = Field(default=2, ge=0, le=10)

    # Weekly leagues
    league_size: int = Field(default=30, ge=5, le=200)
    league_promote: int = Field(default=7, ge=1)
    league_demote: int = Field(default=5, ge=0)
    # SQL boards (no REDIS_URL): ranks deeper than this are read from a board's points
    # histogram, recounted at most once a minute, and shown as approximate
    leaderboard_exact_ranks: int = Field(default=10_000, ge=100)
    # Certificates: levels whose certificates wait for a unit admin's approval ("" = none),
    # years a certificate stays valid (0 = no expiry), and the authority's title line
    # printed on them ("" = from the issuing unit, e.g. "ỦY BAN NHÂN DÂN XÃ TÂN PHÚ")
    final_test_attempts_per_day: int = Field(default=2, ge=1, le=20)
    certificate_approval_levels: str = Field(default="4,5", pattern=r"^([1-5](,[1-5])*)?$")
    certificate_valid_years: int = Field(default=0, ge=0, le=50)
    certificate_authority: str = Field(default="", max_length=120)
    # Mentoring (docs/mentoring.md): who may mentor a level (completed it with this average
    # of best challenge grades and a longest streak of this many days), and whether a unit
    # admin confirms them
    mentor_min_average: float = Field(default=85.0, ge=0, le=100)
    mentor_min_streak: int = Field(default=7, ge=0, le=365)
    mentor_auto_confirm: bool = False
    # The review queue: the share of ordinary grades drawn for quality control; how far (in
    # score points out of 100) a review may differ from the grade under review before a
    # second mentor or an admin decides; how close a review must be to the decision to earn
    # the mentor's calibration points; how long opening an item keeps it for one mentor
    review_sample_rate: float = Field(default=0.05, ge=0, le=1)
    review_disagreement: float = Field(default=20.0, ge=0, le=100)
    review_agreement: float = Field(default=10.0, ge=0, le=100)
    review_claim_minutes: int = Field(default=15, ge=1, le=240)
    appeal_days: int = Field(default=14, ge=1, le=365)  # after the grade
    # Questions under lessons: posts per learner a day, reports that hide a post until a
    # mentor looks, and featured teach-backs shown per lesson
    questions_per_day: int = Field(default=10, ge=1, le=200)
    answers_per_day: int = Field(default=30, ge=1, le=500)
    reports_to_hide: int = Field(default=3, ge=1, le=50)
    featured_per_lesson: int = Field(default=3, ge=1, le=20)
    # The program's targets for the working-age population of a unit (its target
    # population): who join, and who reach basic skills (the certificate of `basic_level`)
    target_join_pct: int = Field(default=80, ge=0, le=100)
    target_basic_pct: int = Field(default=50, ge=0, le=100)
    target_basic_level: int = Field(default=1, ge=1, le=5)
    # How often the grading worker's sweep rebuilds today's report rollups
    report_refresh_seconds: int = Field(default=300, ge=10, le=86_400)
    cookie_secure: bool = False

    @property
    def approval_levels(self) -> frozenset[int]:
        return frozenset(int(n) for n in self.certificate_approval_levels.split(",") if n)

    @model_validator(mode="after")
    def _llm_needs_an_endpoint(self) -> Settings:
        if self.grader == "llm" and not self.openai_base_url and not self.openai_api_key:
            raise ValueError("GRADER=llm needs OPENAI_BASE_URL and/or OPENAI_API_KEY")
        return self

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        weak = self.secret_key == DEV_SECRET or len(self.secret_key) < 32
        if self.environment == "production" and weak:
            raise ValueError(
                "SECRET_KEY must be set to a random value of at least 32 characters "
                "when ENVIRONMENT=production"
            )
        return self

    @property
    def worker_mode(self) -> str:
        if self.grading_worker is not None:
            return self.grading_worker
        return "external" if self.redis_url else "inprocess"

    def streak_milestone_points(self, days: int) -> int:
        return {7: self.points_streak_7, 30: self.points_streak_30}.get(
            days, self.points_streak_100
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
