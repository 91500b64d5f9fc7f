"""screening prioritisation rankings and stopping decisions (issue 5)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "priority_ranking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("label_source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("training_size", sa.Integer(), nullable=False),
        sa.Column("n_includes", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("order", sa.JSON(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_priority_ranking")),
    )
    with op.batch_alter_table("priority_ranking", schema=None) as batch_op:
        batch_op.create_index("ix_priority_ranking_stage", ["stage", "id"], unique=False)

    op.create_table(
        "screening_stop",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("estimate", sa.JSON(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["reviewer.id"], name=op.f("fk_screening_stop_reviewer_id_reviewer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_stop")),
    )
    with op.batch_alter_table("screening_stop", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_screening_stop_stage"), ["stage"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("screening_stop", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screening_stop_stage"))
    op.drop_table("screening_stop")
    with op.batch_alter_table("priority_ranking", schema=None) as batch_op:
        batch_op.drop_index("ix_priority_ranking_stage")
    op.drop_table("priority_ranking")
