"""The credential: an Open Badges 3.0 AchievementCredential (a W3C Verifiable Credential)
signed as a VC-JWT with ES256, and its verification.

The JWT carries the credential in its `vc` claim with the registered claims the VC-JWT
encoding asks for: `iss` (the issuer profile's id), `jti` (the credential's id), `nbf`
(issuance) and, when the certificate expires, `exp`. The holder is named by an
IdentityObject (their full name, as printed); no phone number or other contact is in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jose import ExpiredSignatureError, JWTError, jwt

from app.certificates.keys import ALGORITHM, ActiveKey

CONTEXTS = [
    "https://www.w3.org/2018/credentials/v1",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
]


@dataclass(frozen=True)
class CredentialFacts:
    base_url: str
    serial: str
    holder_name: str
    level_number: int
    level_title: str
    level_description: str
    outcomes: list[str]
    criteria: str  # the rule, in Vietnamese
    unit_id: int
    unit_name: str
    issued_at: datetime
    expires_at: datetime | None = None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def credential_id(base_url: str, serial: str) -> str:
    return f"{base_url}/api/v1/certificates/{serial}"


def issuer_id(base_url: str, unit_id: int) -> str:
    return f"{base_url}/api/v1/issuers/{unit_id}"


def achievement_id(base_url: str, level_number: int) -> str:
    return f"{base_url}/api/v1/achievements/{level_number}"


def issuer_profile(base_url: str, unit_id: int, unit_name: str) -> dict[str, Any]:
    return {
        "id": issuer_id(base_url, unit_id),
        "type": ["Profile"],
        "name": unit_name,
        "url": base_url,
        "description": f"{unit_name}: đơn vị cấp chứng nhận của chương trình Bình dân học AI.",
    }


def achievement(
    base_url: str, number: int, title: str, description: str, criteria: str, outcomes: list[str]
) -> dict[str, Any]:
    """A level as an OB 3.0 Achievement."""
    listed = "\n".join(f"- {o}" for o in outcomes)
    return {
        "id": achievement_id(base_url, number),
        "type": ["Achievement"],
        "achievementType": "Certificate",
        "name": f"Bậc {number} – {title}",
        "description": description,
        "criteria": {"narrative": f"{criteria}\n\nKết quả đạt được:\n{listed}"},
        "humanCode": f"BDHAI-B{number}",
        "inLanguage": "vi",
    }


def build(facts: CredentialFacts) -> dict[str, Any]:
    base = facts.base_url
    credential: dict[str, Any] = {
        "@context": CONTEXTS,
        "id": credential_id(base, facts.serial),
        "type": ["VerifiableCredential", "AchievementCredential"],
        "name": f"Chứng nhận Bậc {facts.level_number} – {facts.level_title}",
        "description": (
            f"Chứng nhận hoàn thành Bậc {facts.level_number} – {facts.level_title} "
            "của chương trình Bình dân học AI."
        ),
        "issuer": issuer_profile(base, facts.unit_id, facts.unit_name),
        "issuanceDate": _iso(facts.issued_at),
        "awardedDate": _iso(facts.issued_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityType": "name",
                    "hashed": False,
                    "identityHash": facts.holder_name,
                }
            ],
            "achievement": achievement(
                base,
                facts.level_number,
                facts.level_title,
                facts.level_description,
                facts.criteria,
                facts.outcomes,
            ),
        },
        "credentialStatus": {
            "id": f"{credential_id(base, facts.serial)}/status",
            "type": "1EdTechRevocationList",
        },
    }
    if facts.expires_at is not None:
        credential["expirationDate"] = _iso(facts.expires_at)
    return credential


def sign(credential: dict[str, Any], key: ActiveKey) -> str:
    claims: dict[str, Any] = {
        "iss": credential["issuer"]["id"],
        "jti": credential["id"],
        "nbf": int(datetime.fromisoformat(credential["issuanceDate"]).timestamp()),
        "vc": credential,
    }
    if "expirationDate" in credential:
        claims["exp"] = int(datetime.fromisoformat(credential["expirationDate"]).timestamp())
    return jwt.encode(
        claims, key.private_pem.decode(), algorithm=ALGORITHM, headers={"kid": key.kid}
    )


@dataclass
class Checked:
    """What the signature and claims say, before the certificate's record is consulted."""

    outcome: str  # valid | expired | tampered | unknown_issuer | malformed
    reasons: list[str] = field(default_factory=list)
    credential: dict[str, Any] | None = None


def check(token: str, keys: dict[str, dict[str, Any]], base_url: str) -> Checked:
    """Verify a VC-JWT against the issuer's published keys."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.get_unverified_claims(token)
    except JWTError:
        return Checked("malformed", ["Chuỗi gửi lên không phải một chứng nhận điện tử (VC-JWT)."])
    if header.get("alg") != ALGORITHM:
        return Checked("tampered", [f"Thuật toán ký “{header.get('alg')}” không được chấp nhận."])
    issuer = str(unverified.get("iss", ""))
    key = keys.get(str(header.get("kid", "")))
    if key is None or not issuer.startswith(f"{base_url}/api/v1/issuers/"):
        return Checked(
            "unknown_issuer",
            ["Chứng nhận không được ký bằng khóa của nền tảng Bình dân học AI."],
        )
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM])
    except ExpiredSignatureError:
        return Checked(
            "expired",
            ["Chữ ký hợp lệ nhưng chứng nhận đã hết hạn."],
            unverified.get("vc"),
        )
    except JWTError:
        return Checked("tampered", ["Chữ ký không khớp: nội dung chứng nhận đã bị sửa đổi."])
    vc = claims.get("vc")
    if not isinstance(vc, dict) or vc.get("id") != claims.get("jti"):
        return Checked("tampered", ["Nội dung chứng nhận không khớp với phần đã ký."])
    if vc.get("issuer", {}).get("id") != issuer:
        return Checked("tampered", ["Đơn vị cấp trong chứng nhận không khớp với phần đã ký."])
    return Checked("valid", [], vc)
