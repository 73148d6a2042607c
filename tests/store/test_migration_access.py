"""Revision 0005 (accounts) on a database that already holds accounts: their site carried over, and back."""

from __future__ import annotations

from sqlalchemy import text

from sarcotrial.store import db


def test_accounts_made_before_0005_keep_their_site_and_cannot_sign_in(database_url):
    engine = db.make_engine(database_url)
    try:
        db.upgrade(engine, "0004")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO site (id, code, name, protocol_version, created_at) "
                                    "VALUES (1, 'MAIN', 'Unit', '1.0', '2025-01-01 00:00:00')"))
            connection.execute(text(
                "INSERT INTO app_user (id, username, full_name, role, site_id, protocol_version, created_at) VALUES "
                "(1, 'old', NULL, 'surgeon', 1, '1.0', '2025-01-01 00:00:00'), "
                "(2, 'old2', 'Old Two', 'monitor', NULL, '1.0', '2025-01-01 00:00:00')"))
        db.upgrade(engine, "0005")
        with engine.connect() as connection:
            users = connection.execute(text("SELECT username, full_name, role, export_right, password_hash, active "
                                            "FROM app_user ORDER BY id")).all()
            granted = connection.execute(text("SELECT user_id, site_id FROM user_site")).all()
        # no password yet: disabled, with a hash nothing verifies against, until an admin resets it
        assert [tuple(u) for u in users] == [("old", "old", "monitor", "none", "!no-password-set", False),
                                             ("old2", "Old Two", "monitor", "none", "!no-password-set", False)]
        assert [tuple(g) for g in granted] == [(1, 1)]
        db.downgrade(engine, "0004")
        with engine.connect() as connection:
            assert [tuple(r) for r in connection.execute(text("SELECT username, site_id FROM app_user ORDER BY id"))] \
                == [("old", 1), ("old2", None)]
    finally:
        engine.dispose()
