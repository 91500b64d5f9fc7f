"""screening decisions indexed by (stage, record, reviewer, id)

Why: every whole-stage count (PRISMA, the dashboard, agreement) takes the newest decision per
record and reviewer. With the reviewer and id in the index the database reads those groups in
order from the index alone instead of sorting 200,000 decisions in a temporary B-tree (PRISMA
at 100,000 records x 2 reviewers: about 100 ms less on SQLite). The index it replaces,
(stage, record_id), is a prefix of this one, so no query loses its index.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("screening_decision", schema=None) as batch_op:
        batch_op.drop_index("ix_screening_decision_stage_record")
        batch_op.create_index(
            "ix_screening_decision_stage_record",
            ["stage", "record_id", "reviewer_id", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("screening_decision", schema=None) as batch_op:
        batch_op.drop_index("ix_screening_decision_stage_record")
        batch_op.create_index(
            "ix_screening_decision_stage_record", ["stage", "record_id"], unique=False
        )
