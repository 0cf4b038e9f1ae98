"""final test attempts

Revision ID: c3a9f0d4e6b1
Revises: b1d7e5a0c2f4
Create Date: 2026-11-24 00:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = 'c3a9f0d4e6b1'
down_revision: str | None = 'b1d7e5a0c2f4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('final_test_attempts',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('level_number', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('deadline_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=True),
    sa.Column('correct', sa.Integer(), nullable=True),
    sa.Column('percent', sa.Integer(), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.Column('submitted_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['level_number'], ['levels.number'], name=op.f('fk_final_test_attempts_level_number_levels'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_final_test_attempts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_final_test_attempts'))
    )
    with op.batch_alter_table('final_test_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_final_test_attempts_user_level', ['user_id', 'level_number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('final_test_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_final_test_attempts_user_level')
    op.drop_table('final_test_attempts')
