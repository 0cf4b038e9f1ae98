"""users.board_name: how a learner appears to others on boards ('short': "Cường N.", the
default for every account, existing ones included; 'full': the full name)

Revision ID: a7d2e4f6b8c1
Revises: f6c1d9a4b2e8
Create Date: 2026-11-24 06:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = 'a7d2e4f6b8c1'
down_revision: str | None = 'f6c1d9a4b2e8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'board_name',
                sa.Enum('short', 'full', name='boardname', native_enum=False, length=8),
                server_default='short',
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('board_name')
