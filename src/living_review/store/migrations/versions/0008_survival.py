"""digitised Kaplan-Meier curves and reconstructed IPD per study arm (issue 10)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "km_curve",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("arm_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("at_risk", sa.JSON(), nullable=False),
        sa.Column("total_events", sa.Integer(), nullable=True),
        sa.Column("time_unit", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("digitiser", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("input_sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["arm_id"], ["study_arm.id"], name=op.f("fk_km_curve_arm_id_study_arm")
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_km_curve_study_id_study")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"], ["km_curve.id"], name=op.f("fk_km_curve_supersedes_id_km_curve")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_km_curve")),
    )
    with op.batch_alter_table("km_curve", schema=None) as batch_op:
        batch_op.create_index(
            "ix_km_curve_study_outcome", ["study_id", "outcome", "arm_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("km_curve", schema=None) as batch_op:
        batch_op.drop_index("ix_km_curve_study_outcome")

    op.drop_table("km_curve")
