"""Users, their passwords, and the login throttle.

Failed logins are counted per (account, source address). After FREE_FAILURES the pair
waits 1 s, then 2 s, 4 s ... up to MAX_DELAY before the next try is even checked. Since
the key includes the source, a student failing the teacher's password from a classroom
PC delays only that PC; the teacher logs in from their own. `unlock` clears every pair
of an account.
"""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from admin.store.credentials import dummy_hash, hash_password, verify_password
from admin.store.errors import Conflict
from admin.store.models import LoginFailureRow, SessionRow, UserRow
from admin.store.records import User
from admin.store.repos.base import Repo, utcnow

FREE_FAILURES = 3
MAX_DELAY = 900.0


def throttle_delay(failures: int) -> float:
    """Seconds a pair waits after `failures` consecutive failed logins."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(2.0 ** (failures - FREE_FAILURES), MAX_DELAY)


class Users(Repo):
    def add(self, name: str, password: str, role: str) -> User:
        with self._store.transaction() as s:
            if s.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                raise Conflict(f"a user named {name!r} exists already")
            row = UserRow(name=name, role=role, password_hash=hash_password(password),
                          created=utcnow())
            s.add(row)
            s.flush()
            return User(row.name, row.role, row.created, None)

    def get(self, name: str) -> User | None:
        with self._store.transaction() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            return None if row is None else self._record(s, row)

    def list(self) -> builtins.list[User]:
        with self._store.transaction() as s:
            rows = s.scalars(select(UserRow).order_by(UserRow.name)).all()
            return [self._record(s, row) for row in rows]

    def count(self) -> int:
        with self._store.transaction() as s:
            return int(s.scalar(select(func.count()).select_from(UserRow)) or 0)

    def set_password(self, name: str, password: str) -> bool:
        """Change the password and end the user's sessions; False when there is no such user."""
        with self._store.transaction() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                return False
            row.password_hash = hash_password(password)
            s.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
            return True

    def set_role(self, name: str, role: str) -> bool:
        with self._store.transaction() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                return False
            row.role = role
            return True

    def remove(self, name: str) -> bool:
        with self._store.transaction() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                return False
            s.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
            s.execute(delete(LoginFailureRow).where(LoginFailureRow.name == name))
            s.delete(row)
            return True

    def login_delay(self, name: str, source: str) -> float:
        """Seconds before a login of `name` from `source` is checked again (0: now)."""
        with self._store.transaction() as s:
            row = self._failure(s, name, source)
            if row is None:
                return 0.0
            return max(0.0, (row.locked_until - utcnow()).total_seconds())

    def check_password(self, name: str, password: str, source: str) -> User | None:
        """The user when the password is right and the pair is not waiting; None otherwise.
        A failure counts against (name, source) only; a success clears that pair."""
        with self._store.transaction() as s:
            failure = self._failure(s, name, source)
            now = utcnow()
            if failure is not None and failure.locked_until > now:
                return None
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            ok = verify_password(password, row.password_hash if row else dummy_hash())
            if ok and row is not None:
                if failure is not None:
                    s.delete(failure)
                return self._record(s, row)
            if failure is None:
                failure = LoginFailureRow(name=name, source=source, failures=0,
                                          last_failure=now, locked_until=now)
                s.add(failure)
            failure.failures += 1
            failure.last_failure = now
            failure.locked_until = now + timedelta(seconds=throttle_delay(failure.failures))
            return None

    def unlock(self, name: str) -> int:
        """Forget every failed login of `name`; returns how many sources were waiting."""
        with self._store.transaction() as s:
            result = s.execute(delete(LoginFailureRow).where(LoginFailureRow.name == name))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def purge_failures(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Forget failed logins whose wait is over and whose last try is older than a day
        (names that do not exist are counted too, so this keeps the table small)."""
        now = utcnow()
        with self._store.transaction() as s:
            result = s.execute(delete(LoginFailureRow).where(
                LoginFailureRow.locked_until <= now,
                LoginFailureRow.last_failure < now - older_than))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    @staticmethod
    def _failure(s: Session, name: str, source: str) -> LoginFailureRow | None:
        return s.scalar(select(LoginFailureRow).where(
            LoginFailureRow.name == name, LoginFailureRow.source == source))

    @staticmethod
    def _record(s: Session, row: UserRow) -> User:
        locked: datetime | None = s.scalar(
            select(func.max(LoginFailureRow.locked_until)).where(LoginFailureRow.name == row.name))
        if locked is not None and locked <= utcnow():
            locked = None
        return User(row.name, row.role, row.created, locked)
