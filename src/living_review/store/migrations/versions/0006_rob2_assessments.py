"""RoB 2 assessments per study and outcome, dual and consensus (issue 6)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rob2_assessment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("assessor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("variant", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("deviations", sa.JSON(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("proposed", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("support", sa.JSON(), nullable=False),
        sa.Column("directions", sa.JSON(), nullable=False),
        sa.Column("algorithm_version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("numerical_result", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_rob2_assessment_study_id_study")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["rob2_assessment.id"],
            name=op.f("fk_rob2_assessment_supersedes_id_rob2_assessment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rob2_assessment")),
    )
    with op.batch_alter_table("rob2_assessment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rob2_assessment_result", ["study_id", "outcome", "role"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rob2_assessment", schema=None) as batch_op:
        batch_op.drop_index("ix_rob2_assessment_result")

    op.drop_table("rob2_assessment")
