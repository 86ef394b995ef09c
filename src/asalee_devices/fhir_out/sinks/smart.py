"""SMART Backend Services (client-credentials grant with a signed JWT client assertion, ``private_key_jwt``), per
the SMART App Launch "Backend Services" specification, signed with ``cryptography``: RS384 for an RSA key (>= 2048
bits), ES384 for an EC P-384 key.

- The assertion header carries ``kid``: by default the key's RFC 7638 JWK thumbprint (SHA-256, base64url), which
  is what the client registers with its public JWK; configurable (``sink.kid``).
- Without a token URL, the token endpoint is discovered from ``<FHIR base>/.well-known/smart-configuration``.
- Token and FHIR URLs must be https unless they are loopback.
- The default scope covers every resource type the bundles write, in SMART v2 (``system/Patient.cus``...) or v1
  (``system/Patient.write``) syntax (``sink.scope_syntax``).
- Token errors: the OAuth ``error`` / ``error_description`` is kept; ``invalid_client``, ``invalid_scope``,
  ``unauthorized_client``, ``invalid_grant`` and other 4xx are a configuration problem for a human
  (:class:`SmartConfigurationError`, never retried); 5xx, 429, network errors and a malformed 200 (HTML, no
  ``access_token``) are transient. Nothing secret (key, assertion, token) is ever put in a message.
- Tokens are cached until shortly before they expire.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from asalee_devices.errors import ConfigError, RejectedDeliveryError, TransientDeliveryError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: every resource type the examination bundles write (conditional create needs search: SMART v2 ``s``)
WRITTEN_TYPES = ("Patient", "Practitioner", "PractitionerRole", "Organization", "Device", "DeviceMetric",
                 "Procedure", "MedicationAdministration", "Observation", "DiagnosticReport", "Task", "Provenance")
MAX_TOKEN_RESPONSE = 64 * 1024


def default_scope(syntax: str = "v2") -> str:
    """The scope covering every written resource type: v2 ``system/<T>.cus`` or v1 ``system/<T>.write``."""
    if syntax not in ("v1", "v2"):
        raise ConfigError("Unknown SMART scope syntax", field="sink.scope_syntax", value=syntax, expected="v1 or v2")
    suffix = "cus" if syntax == "v2" else "write"
    return " ".join(f"system/{t}.{suffix}" for t in WRITTEN_TYPES)


class SmartConfigurationError(RejectedDeliveryError):
    """The authorization server refused the client (OAuth error): the configuration needs a human."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_tls(url: str, field_name: str) -> None:
    """https, or http to a loopback address only (tests, a local proxy)."""
    scheme = urlsplit(url).scheme
    if scheme == "https" or (scheme == "http" and is_loopback(url)):
        return
    raise ConfigError("SMART and FHIR URLs must use https (plain http only to this computer)", field=field_name,
                      value=url, expected="https://...")


def load_private_key(key_pem: bytes) -> Any:
    """The signing key, or a :class:`ConfigError` saying why it cannot be used (never its content)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise ConfigError("The SMART private key is encrypted (password-protected)", field="sink.private_key",
                          expected="an unencrypted PEM private key (PKCS#8 or traditional)") from None
    except ValueError:
        raise ConfigError("The SMART private key is not a PEM private key", field="sink.private_key",
                          expected="an unencrypted PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ConfigError("The SMART RSA key is too short", field="sink.private_key", value=key.key_size,
                              expected="an RSA key of at least 2048 bits (RS384)")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return key
    curve = getattr(getattr(key, "curve", None), "name", type(key).__name__)
    raise ConfigError("Unsupported SMART key type", field="sink.private_key", value=curve,
                      expected="an RSA key (RS384) or an EC P-384 key (ES384)")


def public_jwk(key: Any) -> dict[str, str]:
    """The public JWK of ``key`` (the members RFC 7638 hashes)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    pub = key.public_key()
    if isinstance(key, rsa.RSAPrivateKey):
        nums = pub.public_numbers()
        return {"e": _b64url(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")), "kty": "RSA",
                "n": _b64url(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big"))}
    nums = pub.public_numbers()
    return {"crv": "P-384", "kty": "EC", "x": _b64url(nums.x.to_bytes(48, "big")),
            "y": _b64url(nums.y.to_bytes(48, "big"))}


def jwk_thumbprint(key: Any) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 of the required members, lexicographic order, no whitespace; base64url."""
    members = json.dumps(public_jwk(key), sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _b64url(hashlib.sha256(members).digest())


def signed_jwt(claims: dict[str, Any], key_pem: bytes | Any, *, kid: str | None = None) -> str:
    """A compact JWS of ``claims`` signed RS384 (RSA key) or ES384 (EC P-384 key); ``kid`` in the header."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = load_private_key(key_pem) if isinstance(key_pem, bytes) else key_pem
    alg = "RS384" if isinstance(key, rsa.RSAPrivateKey) else "ES384"
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


def _oauth_error(resp: httpx.Response) -> tuple[str, str]:
    try:
        body = resp.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error", ""))[:100], str(body.get("error_description", ""))[:300]


@dataclass
class SmartBackendAuth:
    client_id: str
    token_url: str
    key_pem: bytes = field(repr=False)
    scope: str = ""
    kid: str | None = None
    fhir_base_url: str = ""  # for discovery when token_url is empty
    clock: Callable[[], float] = time.time
    _key: Any = field(default=None, repr=False)
    _token: str = field(default="", repr=False)
    _expires_at: float = 0.0
    requests: int = 0  # token requests made (observability; no secret)

    def __post_init__(self) -> None:
        self._key = load_private_key(self.key_pem)
        if not self.kid:
            self.kid = jwk_thumbprint(self._key)
        if not self.scope:
            self.scope = default_scope()
        if self.token_url:
            require_tls(self.token_url, "sink.token_url")
        elif not self.fhir_base_url:
            raise ConfigError("SMART Backend Services needs a token URL or the FHIR base URL to discover it",
                              field="sink.token_url", expected="https://.../token or sink.base_url")

    @classmethod
    def from_files(cls, client_id: str, token_url: str, private_key_path: str, scope: str, *, kid: str = "",
                   fhir_base_url: str = "", scope_syntax: str = "v2") -> SmartBackendAuth:
        try:
            pem = Path(private_key_path).read_bytes()
        except OSError:
            raise ConfigError("Cannot read the SMART private key", field="sink.private_key",
                              value=private_key_path) from None
        return cls(client_id, token_url, pem, scope or default_scope(scope_syntax), kid=kid or None,
                   fhir_base_url=fhir_base_url)

    @property
    def algorithm(self) -> str:
        from cryptography.hazmat.primitives.asymmetric import rsa

        return "RS384" if isinstance(self._key, rsa.RSAPrivateKey) else "ES384"

    def check(self) -> str:
        """Test-sign an assertion (``config check``); returns a description without any secret."""
        self.assertion(audience="https://example.invalid/token")
        return f"{self.algorithm}, kid {self.kid}"

    def assertion(self, now: float | None = None, *, audience: str | None = None) -> str:
        now = self.clock() if now is None else now
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": audience or self.token_url,
                  "exp": int(now) + 300, "iat": int(now), "jti": str(uuid.uuid4())}
        return signed_jwt(claims, self._key, kid=self.kid)

    def discover(self, client: httpx.Client) -> str:
        """The token endpoint from ``<FHIR base>/.well-known/smart-configuration``."""
        url = self.fhir_base_url.rstrip("/") + "/.well-known/smart-configuration"
        require_tls(url, "sink.base_url")
        try:
            resp = client.get(url, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"SMART configuration unreachable: {type(exc).__name__}",
                                         field="sink.base_url") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise TransientDeliveryError(f"SMART configuration unavailable (HTTP {resp.status_code})",
                                         field="sink.base_url", value=resp.status_code)
        try:
            endpoint = resp.json().get("token_endpoint") if resp.status_code == 200 else None
        except (ValueError, AttributeError):
            endpoint = None
        if not isinstance(endpoint, str) or not endpoint:
            raise SmartConfigurationError(
                "The FHIR server publishes no SMART token endpoint (.well-known/smart-configuration)",
                field="sink.token_url", value=resp.status_code, expected="sink.token_url, or a server that "
                                                                         "publishes token_endpoint")
        require_tls(endpoint, "sink.token_url")
        self.token_url = endpoint
        return endpoint

    def valid(self) -> bool:
        """A cached token that is not about to expire (margin: 30 s, or a tenth of a short lifetime)."""
        return bool(self._token) and self.clock() < self._expires_at

    def token(self, client: httpx.Client, *, force: bool = False) -> str:
        if not force and self.valid():
            return self._token
        if not self.token_url:
            self.discover(client)
        self.requests += 1
        try:
            resp = client.post(self.token_url, data={
                "grant_type": "client_credentials", "scope": self.scope,
                "client_assertion_type": ASSERTION_TYPE, "client_assertion": self.assertion()},
                headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"Token endpoint unreachable: {type(exc).__name__}",
                                         field="sink.token_url") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise TransientDeliveryError(f"Token endpoint failing (HTTP {resp.status_code})", field="sink.token_url",
                                         value=resp.status_code)
        if resp.status_code != 200:
            error, description = _oauth_error(resp)
            what = f"{error}: {description}" if description else (error or "no OAuth error given")
            raise SmartConfigurationError(
                f"SMART authorization refused (HTTP {resp.status_code}, {what}); check sink.client_id, the "
                "registered public key (kid) and sink.scope", outcome=what, field="sink.client_id",
                value=error or resp.status_code, expected="a client registered with this key and scope")
        body: Any = None
        if len(resp.content) <= MAX_TOKEN_RESPONSE:
            try:
                body = resp.json()
            except ValueError:
                body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            ctype = resp.headers.get("Content-Type", "?").split(";")[0]
            raise TransientDeliveryError(f"Malformed token response (HTTP 200, {ctype}, no access_token)",
                                         field="sink.token_url", expected="JSON with an access_token")
        try:
            lifetime = float(body.get("expires_in", 300))
        except (TypeError, ValueError):
            lifetime = 300.0
        lifetime = max(0.0, lifetime)
        self._token = token
        self._expires_at = self.clock() + lifetime - min(30.0, lifetime / 10.0)
        return self._token
