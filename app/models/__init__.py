"""All tables, re-exported so Alembic and the app see one metadata."""

from app.models.accounts import (
    LEARNER_ROLES,
    ROLE_LABELS,
    AuthSession,
    BoardName,
    PasswordResetToken,
    Role,
    User,
)
from app.models.audit import AuditLog
from app.models.base import Base, utcnow
from app.models.certificates import (
    CERTIFICATE_STATUS_LABELS,
    Certificate,
    CertificateStatus,
    SigningKey,
)
from app.models.curriculum import Lesson, LessonVersion, Level
from app.models.gamification import (
    League,
    LeagueMember,
    LeagueOutcome,
    LearnerStats,
    PointTally,
    UserBadge,
)
from app.models.grading import GradeRecord
from app.models.imports import ImportJob, ImportKind, ImportStatus
from app.models.learning import (
    FinalTestAttempt,
    LessonProgress,
    LevelUnlock,
    QuizAttempt,
    StudyDay,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)
from app.models.mentoring import (
    MENTOR_STATUS_LABELS,
    REVIEW_KIND_LABELS,
    Answer,
    FeaturedTeachBack,
    Mentorship,
    MentorStatus,
    PostReport,
    Question,
    Review,
    ReviewItem,
    ReviewKind,
    ReviewStatus,
)
from app.models.notifications import Notification
from app.models.orgs import UNIT_TYPE_LABELS, LearnerGroup, Unit, UnitType
from app.models.points import PointEvent
from app.models.reports import (
    ReportActiveDay,
    ReportDay,
    ReportLevelDay,
    ReportMove,
    ReportState,
    ReportUnit,
    UnitTarget,
)

__all__ = [
    "CERTIFICATE_STATUS_LABELS",
    "LEARNER_ROLES",
    "MENTOR_STATUS_LABELS",
    "REVIEW_KIND_LABELS",
    "ROLE_LABELS",
    "UNIT_TYPE_LABELS",
    "Answer",
    "AuditLog",
    "AuthSession",
    "Base",
    "BoardName",
    "Certificate",
    "CertificateStatus",
    "FeaturedTeachBack",
    "FinalTestAttempt",
    "GradeRecord",
    "ImportJob",
    "ImportKind",
    "ImportStatus",
    "League",
    "LeagueMember",
    "LeagueOutcome",
    "LearnerGroup",
    "LearnerStats",
    "Lesson",
    "LessonProgress",
    "LessonVersion",
    "Level",
    "LevelUnlock",
    "MentorStatus",
    "Mentorship",
    "Notification",
    "PasswordResetToken",
    "PointEvent",
    "PointTally",
    "PostReport",
    "Question",
    "QuizAttempt",
    "ReportActiveDay",
    "ReportDay",
    "ReportLevelDay",
    "ReportMove",
    "ReportState",
    "ReportUnit",
    "Review",
    "ReviewItem",
    "ReviewKind",
    "ReviewStatus",
    "Role",
    "SigningKey",
    "StudyDay",
    "Submission",
    "SubmissionKind",
    "SubmissionStatus",
    "Unit",
    "UnitTarget",
    "UnitType",
    "User",
    "UserBadge",
    "utcnow",
]
