"""Login sessions: an opaque token in the cookie, only its hash here, a CSRF token each."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from admin.store.credentials import new_secret, secret_hash
from admin.store.errors import NotFound
from admin.store.models import SessionRow, UserRow
from admin.store.records import User
from admin.store.repos.base import Repo, utcnow

SESSION_TTL = timedelta(hours=12)


class Sessions(Repo):
    def create(self, user: User | str, ttl: timedelta = SESSION_TTL) -> str:
        """A new session for the user; returns the token for the cookie (never stored)."""
        name = user if isinstance(user, str) else user.name
        token = new_secret()
        with self._store.transaction() as s:
            user_id = s.scalar(select(UserRow.id).where(UserRow.name == name))
            if user_id is None:
                raise NotFound(f"there is no user named {name!r}")
            now = utcnow()
            s.add(SessionRow(token_hash=secret_hash(token), user_id=user_id,
                             csrf=secrets.token_urlsafe(24), created=now, expires=now + ttl))
        return token

    def lookup(self, token: str) -> tuple[User, str] | None:
        """(user, CSRF token) of a live session, or None for an unknown or expired one."""
        with self._store.transaction() as s:
            found = s.execute(
                select(SessionRow, UserRow).join(UserRow, SessionRow.user_id == UserRow.id)
                .where(SessionRow.token_hash == secret_hash(token))
            ).first()
            if found is None:
                return None
            session, user = found
            if session.expires <= utcnow():
                s.delete(session)
                return None
            return User(user.name, user.role, user.created, None), session.csrf

    def delete(self, token: str) -> None:
        with self._store.transaction() as s:
            s.execute(delete(SessionRow).where(SessionRow.token_hash == secret_hash(token)))

    def purge_expired(self) -> int:
        with self._store.transaction() as s:
            result = s.execute(delete(SessionRow).where(SessionRow.expires <= utcnow()))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
