"""The issuer's ES256 signing keys: one active key signs new credentials; retired keys stay
published in the JWKS (`/.well-known/jwks.json`) so what they signed still verifies.

Private keys are stored as PKCS#8 PEM encrypted with SECRET_KEY: changing SECRET_KEY
without re-encrypting them leaves the platform unable to sign (verification, which uses
the public keys, keeps working)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import SigningKey, utcnow

ALGORITHM = "ES256"
_DECRYPTED: dict[tuple[str, str, str], bytes] = {}


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_pem: bytes  # decrypted, in memory only


def _password(settings: Settings) -> bytes:
    return settings.secret_key.encode()


def create_key(session: Session, settings: Settings) -> SigningKey:
    """A new P-256 key, which becomes the active one; the previous active key is retired."""
    private = ec.generate_private_key(ec.SECP256R1())
    kid = f"es256-{utcnow():%Y%m%d}-{secrets.token_hex(4)}"
    public = jwk.construct(
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        ALGORITHM,
    ).to_dict()
    public.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(_password(settings)),
    ).decode()
    now = utcnow()
    for old in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        old.retired_at = now
    key = SigningKey(kid=kid, algorithm=ALGORITHM, public_jwk=json.dumps(public), private_pem=pem)
    session.add(key)
    session.flush()
    return key


def active_key(session: Session, settings: Settings) -> ActiveKey:
    """The key that signs now (made on first use)."""
    key = session.scalar(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    )
    if key is None:
        key = create_key(session, settings)
    cache_key = (key.kid, key.private_pem, settings.secret_key)
    if cache_key not in _DECRYPTED:  # decrypting is slow by design: once per process
        private = serialization.load_pem_private_key(key.private_pem.encode(), _password(settings))
        _DECRYPTED[cache_key] = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return ActiveKey(key.kid, _DECRYPTED[cache_key])


def public_keys(session: Session) -> dict[str, dict[str, Any]]:
    """Every published public key (active and retired) by key id."""
    return {
        k.kid: json.loads(k.public_jwk)
        for k in session.scalars(select(SigningKey).order_by(SigningKey.created_at))
    }


def jwks(session: Session) -> dict[str, list[dict[str, Any]]]:
    return {"keys": list(public_keys(session).values())}
