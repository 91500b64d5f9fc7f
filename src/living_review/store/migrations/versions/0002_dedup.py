"""dedup: duplicate links (append-only decisions), blocking keys, records seen by the pass

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duplicate_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_a", sa.Integer(), nullable=False),
        sa.Column("record_b", sa.Integer(), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_a"], ["record.id"], name=op.f("fk_duplicate_link_record_a_record")
        ),
        sa.ForeignKeyConstraint(
            ["record_b"], ["record.id"], name=op.f("fk_duplicate_link_record_b_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_link")),
    )
    with op.batch_alter_table("duplicate_link", schema=None) as batch_op:
        batch_op.create_index("ix_duplicate_link_pair", ["record_a", "record_b"], unique=False)
        batch_op.create_index(batch_op.f("ix_duplicate_link_record_b"), ["record_b"], unique=False)

    op.create_table(
        "dedup_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["record.id"], name=op.f("fk_dedup_key_record_id_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dedup_key")),
    )
    with op.batch_alter_table("dedup_key", schema=None) as batch_op:
        batch_op.create_index("ix_dedup_key_key", ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_dedup_key_record_id"), ["record_id"], unique=False)

    op.create_table(
        "dedup_seen",
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("engine_version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["record.id"], name=op.f("fk_dedup_seen_record_id_record")
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_dedup_seen")),
    )


def downgrade() -> None:
    op.drop_table("dedup_seen")
    with op.batch_alter_table("dedup_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dedup_key_record_id"))
        batch_op.drop_index("ix_dedup_key_key")
    op.drop_table("dedup_key")
    with op.batch_alter_table("duplicate_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_link_record_b"))
        batch_op.drop_index("ix_duplicate_link_pair")
    op.drop_table("duplicate_link")
