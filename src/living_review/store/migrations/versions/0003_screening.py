"""screening: assignments, append-only decisions, resolutions, unblinding, studies, reports,
review versions (the cut-off of PRISMA's previous-version column)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "study",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("registry_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study")),
        sa.UniqueConstraint("registry_id", name=op.f("uq_study_registry_id")),
    )
    op.create_table(
        "review_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["reviewer.id"], name=op.f("fk_review_version_reviewer_id_reviewer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_version")),
        sa.UniqueConstraint("label", name=op.f("uq_review_version_label")),
    )
    op.create_table(
        "unblinding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["reviewer.id"], name=op.f("fk_unblinding_reviewer_id_reviewer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unblinding")),
    )
    with op.batch_alter_table("unblinding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unblinding_stage"), ["stage"], unique=False)

    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=True),
        sa.Column("registry_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("pdf_path", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("retrieval", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("not_retrieved_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["record.id"], name=op.f("fk_report_record_id_record")
        ),
        sa.ForeignKeyConstraint(["study_id"], ["study.id"], name=op.f("fk_report_study_id_study")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report")),
        sa.UniqueConstraint("record_id", name=op.f("uq_report_record_id")),
    )
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_study_id"), ["study_id"], unique=False)

    op.create_table(
        "resolution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["record.id"], name=op.f("fk_resolution_record_id_record")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["reviewer.id"], name=op.f("fk_resolution_reviewer_id_reviewer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution")),
    )
    with op.batch_alter_table("resolution", schema=None) as batch_op:
        batch_op.create_index("ix_resolution_stage_record", ["stage", "record_id"], unique=False)

    op.create_table(
        "screening_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["record.id"], name=op.f("fk_screening_assignment_record_id_record")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewer.id"],
            name=op.f("fk_screening_assignment_reviewer_id_reviewer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_assignment")),
        sa.UniqueConstraint(
            "stage", "reviewer_id", "record_id", name="uq_screening_assignment_stage"
        ),
    )
    with op.batch_alter_table("screening_assignment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_screening_assignment_record", ["record_id", "stage"], unique=False
        )

    op.create_table(
        "screening_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["record.id"], name=op.f("fk_screening_decision_record_id_record")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewer.id"],
            name=op.f("fk_screening_decision_reviewer_id_reviewer"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["screening_decision.id"],
            name=op.f("fk_screening_decision_supersedes_id_screening_decision"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_decision")),
    )
    with op.batch_alter_table("screening_decision", schema=None) as batch_op:
        batch_op.create_index(
            "ix_screening_decision_reviewer",
            ["reviewer_id", "stage", "record_id", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_screening_decision_stage_record", ["stage", "record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("screening_decision", schema=None) as batch_op:
        batch_op.drop_index("ix_screening_decision_stage_record")
        batch_op.drop_index("ix_screening_decision_reviewer")

    op.drop_table("screening_decision")
    with op.batch_alter_table("screening_assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_screening_assignment_record")

    op.drop_table("screening_assignment")
    with op.batch_alter_table("resolution", schema=None) as batch_op:
        batch_op.drop_index("ix_resolution_stage_record")

    op.drop_table("resolution")
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_study_id"))

    op.drop_table("report")
    with op.batch_alter_table("unblinding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unblinding_stage"))

    op.drop_table("unblinding")
    op.drop_table("review_version")
    op.drop_table("study")
