"""board seats on tallies: every board is one index range of point_tallies

Revision ID: 9c4f1e2b7a30
Revises: 63e0a8dea31c
Create Date: 2026-11-24 00:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9c4f1e2b7a30'
down_revision: str | None = '63e0a8dea31c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LISTED = sa.text("listed AND points > 0")


def upgrade() -> None:
    with op.batch_alter_table('point_tallies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('listed', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('unit_path', sa.String(length=500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('level', sa.Integer(), nullable=False, server_default='1'))
        batch_op.drop_index('ix_point_tallies_board')
    # the seat each learner has now (the same as app.gamification.boards.reseat)
    op.execute(
        "UPDATE point_tallies SET "
        "listed = COALESCE((SELECT u.is_active AND u.role IN ('learner', 'mentor') "
        "  FROM users u WHERE u.id = point_tallies.user_id), false), "
        "unit_path = COALESCE((SELECT n.path FROM users u JOIN units n ON n.id = u.unit_id "
        "  WHERE u.id = point_tallies.user_id), ''), "
        "group_id = (SELECT u.group_id FROM users u WHERE u.id = point_tallies.user_id), "
        "level = COALESCE((SELECT s.level FROM learner_stats s "
        "  WHERE s.user_id = point_tallies.user_id), 1)"
    )
    op.execute("UPDATE point_tallies SET listed = false WHERE period LIKE '____-__-__'")  # days
    with op.batch_alter_table('point_tallies', schema=None) as batch_op:
        batch_op.alter_column('listed', server_default=None)
        batch_op.alter_column('unit_path', server_default=None)
        batch_op.alter_column('level', server_default=None)
        batch_op.create_index('ix_point_tallies_board', ['period', 'points', 'user_id'], unique=False, postgresql_where=LISTED, sqlite_where=LISTED)
        batch_op.create_index('ix_point_tallies_unit_board', ['period', 'unit_path', 'points', 'user_id'], unique=False, postgresql_ops={'unit_path': 'varchar_pattern_ops'}, postgresql_where=LISTED, sqlite_where=LISTED)
        batch_op.create_index('ix_point_tallies_group_board', ['period', 'group_id', 'points', 'user_id'], unique=False, postgresql_where=LISTED, sqlite_where=LISTED)
        batch_op.create_index('ix_point_tallies_level_board', ['period', 'level', 'points', 'user_id'], unique=False, postgresql_where=LISTED, sqlite_where=LISTED)


def downgrade() -> None:
    with op.batch_alter_table('point_tallies', schema=None) as batch_op:
        batch_op.drop_index('ix_point_tallies_level_board')
        batch_op.drop_index('ix_point_tallies_group_board')
        batch_op.drop_index('ix_point_tallies_unit_board')
        batch_op.drop_index('ix_point_tallies_board')
        batch_op.create_index('ix_point_tallies_board', ['period', 'points', 'user_id'], unique=False)
        batch_op.drop_column('level')
        batch_op.drop_column('group_id')
        batch_op.drop_column('unit_path')
        batch_op.drop_column('listed')
