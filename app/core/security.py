"""Password hashing (argon2) and session tokens (JWT, HS256, python-jose)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from jose import ExpiredSignatureError, JWTError, jwt

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about 30 ms a sign-in
# on a small server, so a morning rush of a commune's civil servants does not queue up.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A real hash to verify against when the account does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))

TokenType = Literal["access", "refresh"]
ALGORITHM = "HS256"
ISSUER = "bdhai"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    session_id: str
    jti: str
    type: TokenType
    issued_at: datetime
    expires_at: datetime


class TokenError(Exception):
    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def make_token(
    *,
    secret: str,
    user_id: int,
    session_id: str,
    token_type: TokenType,
    lifetime: timedelta,
    jti: str | None = None,
    now: datetime | None = None,
) -> tuple[str, TokenClaims]:
    now = now or datetime.now(UTC)
    claims = TokenClaims(
        user_id=user_id,
        session_id=session_id,
        jti=jti or new_uuid(),
        type=token_type,
        issued_at=now,
        expires_at=now + lifetime,
    )
    payload = {
        "iss": ISSUER,
        "sub": str(user_id),
        "sid": session_id,
        "jti": claims.jti,
        "typ": token_type,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def read_token(token: str, *, secret: str, expected_type: TokenType) -> TokenClaims:
    """Decode and check a token; raises TokenError with a Vietnamese message."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require_exp": True}
        )
    except ExpiredSignatureError as exc:
        raise TokenError("Phiên đăng nhập đã hết hạn.", expired=True) from exc
    except JWTError as exc:
        raise TokenError("Mã đăng nhập không hợp lệ.") from exc
    if payload.get("typ") != expected_type:
        raise TokenError("Mã đăng nhập không đúng loại.")
    try:
        return TokenClaims(
            user_id=int(payload["sub"]),
            session_id=str(payload["sid"]),
            jti=str(payload["jti"]),
            type=expected_type,
            issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError("Mã đăng nhập không hợp lệ.") from exc


# Random temporary passwords carry ~58 bits of entropy, so a light argon2 setting is safe for
# them and keeps bulk imports fast; the hash is upgraded at the first sign-in (needs_rehash).
_light_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def hash_temporary_password(password: str) -> str:
    return _light_hasher.hash(password)
