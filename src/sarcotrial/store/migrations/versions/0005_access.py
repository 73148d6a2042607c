"""Accounts: password hash, export right, sites granted, sign-ins, API tokens, settings.

``app_user.site_id`` (one site) becomes rows of ``user_site`` (several sites; none means
study-wide). Accounts made before this revision had no password: they are kept disabled, with an
unusable hash, until an admin resets their password and enables them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

UNUSABLE_HASH = '!no-password-set'
ROLES = ('admin', 'investigator', 'research_nurse', 'data_manager', 'monitor', 'statistician')


def _audit_columns():
    return [
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('protocol_version', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    # the one site an account had becomes its first granted site; read before app_user is rebuilt
    # (SQLite rebuilds the table, which a table referring to it would forbid)
    bind = op.get_bind()
    granted = bind.execute(sa.text("SELECT id, site_id, protocol_version, created_at FROM app_user "
                                   "WHERE site_id IS NOT NULL")).all()
    op.execute("UPDATE app_user SET full_name = username WHERE full_name IS NULL OR full_name = ''")
    role_list = ", ".join(f"'{r}'" for r in ROLES)
    op.execute(f"UPDATE app_user SET role = 'monitor' WHERE role IS NULL OR role NOT IN ({role_list})")

    with op.batch_alter_table('app_user', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_app_user_site_id_site'), type_='foreignkey')
        batch_op.drop_column('site_id')
        batch_op.add_column(sa.Column('export_right', sa.String(length=16), nullable=False, server_default='none'))
        batch_op.add_column(sa.Column('password_hash', sa.Text(), nullable=False, server_default=UNUSABLE_HASH))
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('failed_sign_ins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))
        batch_op.alter_column('full_name', existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column('role', existing_type=sa.String(length=64), nullable=False)
    # the defaults only filled the rows already there; the application always sets these columns
    with op.batch_alter_table('app_user', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        for name, kind in (('export_right', sa.String(length=16)), ('password_hash', sa.Text()),
                           ('active', sa.Boolean()), ('failed_sign_ins', sa.Integer())):
            batch_op.alter_column(name, existing_type=kind, existing_nullable=False, server_default=None)

    op.create_table('user_site',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_user_site_site_id_site')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_user_site_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_site')),
    sa.UniqueConstraint('user_id', 'site_id', name=op.f('uq_user_site_user_id')),
    sqlite_autoincrement=True
    )
    for row in granted:  # the values as the database gave them (SQLite keeps timestamps as text)
        op.execute(sa.text("INSERT INTO user_site (user_id, site_id, protocol_version, created_at) "
                           "VALUES (:user, :site, :version, :at)").bindparams(
            user=row.id, site=row.site_id, version=row.protocol_version, at=row.created_at))
    op.create_table('sign_in_event',
    sa.Column('username', sa.String(length=128), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_sign_in_event_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_event')),
    sqlite_autoincrement=True
    )
    op.create_table('api_token',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_api_token_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_api_token_token_sha256')),
    sqlite_autoincrement=True
    )
    op.create_table('setting',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    *_audit_columns(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_setting')),
    sa.UniqueConstraint('key', name=op.f('uq_setting_key')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    # an account keeps the first of its granted sites; read before the tables referring to
    # app_user are dropped and app_user is rebuilt
    first_sites = op.get_bind().execute(sa.text("SELECT user_id, MIN(site_id) AS site_id FROM user_site "
                                                "GROUP BY user_id")).all()
    op.drop_table('setting')
    op.drop_table('api_token')
    op.drop_table('sign_in_event')
    op.drop_table('user_site')
    with op.batch_alter_table('app_user', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('role', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('full_name', existing_type=sa.String(length=200), nullable=True)
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_sign_ins')
        batch_op.drop_column('active')
        batch_op.drop_column('password_hash')
        batch_op.drop_column('export_right')
        batch_op.add_column(sa.Column('site_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_app_user_site_id_site'), 'site', ['site_id'], ['id'])
    for row in first_sites:
        op.execute(sa.text("UPDATE app_user SET site_id = :site WHERE id = :user").bindparams(site=row.site_id,
                                                                                             user=row.user_id))
