"""API tokens with scopes (read, write, metrics); the secret is shown once, its hash kept."""

from __future__ import annotations

import builtins
from datetime import timedelta

from sqlalchemy import select

from admin.store.credentials import new_secret, secret_hash
from admin.store.models import TokenRow
from admin.store.records import TokenInfo
from admin.store.repos.base import Repo, utcnow

TOKEN_PREFIX = "stj_"
_LAST_USED_STEP = timedelta(minutes=1)  # a busy scraper does not write on every request


def _info(row: TokenRow) -> TokenInfo:
    return TokenInfo(row.id, row.name, frozenset(row.scopes.split()), row.created,
                     row.last_used, row.revoked is not None)


class Tokens(Repo):
    def create(self, name: str, scopes: frozenset[str] | set[str] | tuple[str, ...]
               ) -> tuple[TokenInfo, str]:
        """A new token; returns its record and the secret, which is never stored."""
        secret = new_secret(TOKEN_PREFIX)
        with self._store.transaction() as s:
            row = TokenRow(name=name, secret_hash=secret_hash(secret),
                           scopes=" ".join(sorted(scopes)), created=utcnow())
            s.add(row)
            s.flush()
            return _info(row), secret

    def lookup(self, secret: str) -> TokenInfo | None:
        """The token's record when it exists and is not revoked."""
        with self._store.transaction() as s:
            row = s.scalar(select(TokenRow).where(TokenRow.secret_hash == secret_hash(secret)))
            if row is None or row.revoked is not None:
                return None
            now = utcnow()
            if row.last_used is None or now - row.last_used > _LAST_USED_STEP:
                row.last_used = now
            return _info(row)

    def get(self, token_id: int) -> TokenInfo | None:
        with self._store.transaction() as s:
            row = s.get(TokenRow, token_id)
            return None if row is None else _info(row)

    def revoke(self, token_id: int) -> bool:
        """Revoke a token; False when there is no such token or it was revoked already."""
        with self._store.transaction() as s:
            row = s.get(TokenRow, token_id)
            if row is None or row.revoked is not None:
                return False
            row.revoked = utcnow()
            return True

    def list(self) -> builtins.list[TokenInfo]:
        with self._store.transaction() as s:
            return [_info(r) for r in s.scalars(select(TokenRow).order_by(TokenRow.id))]
