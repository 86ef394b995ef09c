"""SMART Backend Services (client-credentials with a signed JWT assertion), signed with ``cryptography``:
RS384 for an RSA key, ES384 for an EC P-384 key. Tokens are cached until shortly before they expire."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from asalee_devices.errors import ConfigError, DeliveryError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_jwt(claims: dict[str, Any], key_pem: bytes, *, kid: str | None = None) -> str:
    """A compact JWS of ``claims`` signed RS384 (RSA key) or ES384 (EC P-384 key)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError("The SMART private key is not an unencrypted PEM private key",
                          field="sink.private_key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        alg = "RS384"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        alg = "ES384"
    else:
        raise ConfigError("Unsupported SMART key type", field="sink.private_key",
                          expected="an RSA key (RS384) or an EC P-384 key (ES384)")
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64url(json.dumps(claims, separators=(",", ":")).encode())).encode("ascii")
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA384())
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA384())))
        sig = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    return signing_input.decode("ascii") + "." + _b64url(sig)


@dataclass
class SmartBackendAuth:
    client_id: str
    token_url: str
    key_pem: bytes = field(repr=False)
    scope: str = "system/*.write"
    kid: str | None = None
    _token: str = field(default="", repr=False)
    _expires_at: float = 0.0

    @classmethod
    def from_files(cls, client_id: str, token_url: str, private_key_path: str, scope: str) -> SmartBackendAuth:
        try:
            pem = Path(private_key_path).read_bytes()
        except OSError:
            raise ConfigError("Cannot read the SMART private key", field="sink.private_key",
                              value=private_key_path) from None
        return cls(client_id, token_url, pem, scope)

    def assertion(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.token_url,
                  "exp": int(now) + 300, "iat": int(now), "jti": str(uuid.uuid4())}
        return signed_jwt(claims, self.key_pem, kid=self.kid)

    def token(self, client: httpx.Client, *, force: bool = False) -> str:
        if self._token and not force and time.time() < self._expires_at - 30:
            return self._token
        try:
            resp = client.post(self.token_url, data={
                "grant_type": "client_credentials", "scope": self.scope,
                "client_assertion_type": ASSERTION_TYPE, "client_assertion": self.assertion()})
        except httpx.TransportError as exc:
            from asalee_devices.fhir_out.sinks.base import TransientDeliveryError

            raise TransientDeliveryError(f"Token endpoint unreachable: {type(exc).__name__}",
                                         field="sink.token_url") from None
        if resp.status_code != 200:
            raise DeliveryError("SMART token request refused", field="sink.token_url", value=resp.status_code,
                                expected="200 with an access_token")
        body = resp.json()
        self._token = str(body["access_token"])
        self._expires_at = time.time() + float(body.get("expires_in", 300))
        return self._token
