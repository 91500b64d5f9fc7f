"""extraction: reports of a study that data come from, arms, append-only extracted values

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "extraction_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("relation", sa.Text(), nullable=True),
        sa.Column("registry_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("pmid", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("doi", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("first_author", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_extraction_report_study_id_study")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extraction_report")),
        sa.UniqueConstraint("study_id", "label", name="uq_extraction_report_study_id"),
    )
    with op.batch_alter_table("extraction_report", schema=None) as batch_op:
        batch_op.create_index("ix_extraction_report_registry_id", ["registry_id"], unique=False)

    op.create_table(
        "study_arm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("treatment", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reported_as", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["extraction_report.id"],
            name=op.f("fk_study_arm_report_id_extraction_report"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_study_arm_study_id_study")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_arm")),
        sa.UniqueConstraint("report_id", "treatment", name="uq_study_arm_report_id"),
    )
    with op.batch_alter_table("study_arm", schema=None) as batch_op:
        batch_op.create_index("ix_study_arm_study_id", ["study_id"], unique=False)

    op.create_table(
        "extraction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("arm_id", sa.Integer(), nullable=True),
        sa.Column("arm2_id", sa.Integer(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("extractor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["arm2_id"], ["study_arm.id"], name=op.f("fk_extraction_arm2_id_study_arm")
        ),
        sa.ForeignKeyConstraint(
            ["arm_id"], ["study_arm.id"], name=op.f("fk_extraction_arm_id_study_arm")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["extraction_report.id"],
            name=op.f("fk_extraction_report_id_extraction_report"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_extraction_study_id_study")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["extraction.id"],
            name=op.f("fk_extraction_supersedes_id_extraction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extraction")),
    )
    with op.batch_alter_table("extraction", schema=None) as batch_op:
        batch_op.create_index(
            "ix_extraction_study_item", ["study_id", "report_id", "outcome"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("extraction", schema=None) as batch_op:
        batch_op.drop_index("ix_extraction_study_item")

    op.drop_table("extraction")
    with op.batch_alter_table("study_arm", schema=None) as batch_op:
        batch_op.drop_index("ix_study_arm_study_id")

    op.drop_table("study_arm")
    with op.batch_alter_table("extraction_report", schema=None) as batch_op:
        batch_op.drop_index("ix_extraction_report_registry_id")

    op.drop_table("extraction_report")
