"""Configuration: one TOML file plus environment variables, validated with clear messages.

Precedence: built-in defaults < TOML file < environment variables (``ASALEE_<SECTION>_<KEY>``, e.g.
``ASALEE_SINK_TYPE=fhir``, ``ASALEE_FHIR_TOKEN=...``). The file is found from ``--config``, else
``$ASALEE_CONFIG``, else ``./asalee-devices.toml`` if it exists; without one the embedded defaults apply
(simulated devices, the folder ``./asalee-output/`` as the record).

Secrets (tokens, private-key contents) are never printed: :meth:`Config.redacted` masks them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from asalee_devices.errors import ConfigError

DEFAULT_FILE = "asalee-devices.toml"
SECRET_KEYS = frozenset({"token", "client_secret", "private_key", "key_file"})

SINK_TYPES = ("folder", "fhir", "mllp", "hprim")
LANGS = ("fr", "en")
EQUATIONS = ("gli-global-2022", "gli-2012", "ecsc-1993")


@dataclass(frozen=True)
class DevicesConfig:
    spirometer: str = "sim://spirometer"
    ecg: str = "sim://ecg12"


@dataclass(frozen=True)
class PracticeConfig:
    name: str = "Cabinet de démonstration"
    finess: str = ""  # FINESS (9 characters) -> FR Core Organization identifier[finess] and idNatSt (1 + FINESS)
    siret: str = ""  # SIRET (14 digits, Luhn) -> FR Core Organization identifier[siret]
    ecg_statements: str = ""  # the GP's coded statement list (JSON); empty = the packaged data/ecg_statements.json


@dataclass(frozen=True)
class PersonConfig:
    family_name: str = ""
    given_name: str = ""
    rpps: str = ""
    adeli: str = ""


@dataclass(frozen=True)
class SinkConfig:
    type: str = "folder"
    folder: str = "asalee-output"
    # FHIR REST
    base_url: str = ""
    token: str = ""
    client_id: str = ""
    token_url: str = ""
    private_key: str = ""  # path to a PEM file (SMART Backend Services)
    scope: str = ""  # empty: every resource type the bundles write (sinks/smart.py default_scope)
    scope_syntax: str = "v2"  # SMART scopes v2 (system/Patient.cus) or v1 (system/Patient.write)
    kid: str = ""  # JWT header kid; empty: the key's RFC 7638 JWK thumbprint (SHA-256)
    verify_tls: bool = True
    timeout_s: int = 30
    attempts: int = 3  # no longer used: the FHIR sink sends once, the outbox retries (kept so existing files load)
    retry_after_cap_s: float = 3600.0  # a peer's Retry-After is never followed further than this
    # most entries the server accepts in one transaction with conditional operations (Medplum: 8); 0 = no limit.
    # Larger examinations are then delivered in steps (reference resources first, then the examination).
    transaction_max_entries: int = 0
    # HL7 v2 over MLLP
    host: str = ""
    port: int = 2575
    charset: str = "iso-8859-1"
    max_message_bytes: int = 0  # the receiver's MLLP frame limit, e.g. 65536; 0 = none known (larger: refused)
    # HPRIM Net (header lines 11 and 12): codes of at most 10 characters; empty = the practice FINESS as sender,
    # the GP's ADELI number as recipient
    hprim_sender_code: str = ""
    hprim_recipient_code: str = ""


@dataclass(frozen=True)
class WatchConfig:
    """``[watch]``: the watched folder of ``asalee-devices watch`` (used when DIR is not given)."""

    folder: str = ""  # the folder the ECG software exports into
    settle_s: float = 2.0  # seconds a file must stay unchanged before it is read
    mains_hz: int = 0  # mains frequency for the ECG cleaning; 0 = the top-level mains_hz
    strict: bool = False  # refuse files that deviate from their format
    patient_id_system: str = "urn:asalee-devices:ecg-file-patient-id"  # system of the files' patient numbers


@dataclass(frozen=True)
class GdtConfig:
    """``[gdt]``: the GDT exchange with a vendor spirometry or ECG program (``asalee-devices gdt ...``)."""

    folder: str = ""  # where the vendor program writes its results (6310), watched by ``gdt watch``
    out_folder: str = ""  # where we write requests (6302) / patient data (6301) for the vendor program
    sender_id: str = "ASAL"  # our GDT id (file names: receiver id + sender id)
    receiver_id: str = "SPIR"  # the vendor program's GDT id
    procedure: str = ""  # field 8402 (device and procedure) the vendor program expects, if any
    version: str = "02.10"  # 02.10 (GDT 2.1) or 03.00 (GDT 3.0)
    charset: str = "3"  # 9206: 1 = 7-bit, 2 = IBM CP 437, 3 = ISO 8859-1
    file_extension: str = "GDT"  # GDT (fixed name), or "counter" (.000, .001, ... the first free one)
    settle_s: float = 2.0
    patient_id_system: str = "urn:asalee-devices:gdt-patient-id"  # system of the vendor program's patient numbers


@dataclass(frozen=True)
class ProgrammeConfig:
    """``[programme]``: the ASALEE programme context (protocols, practice codes, consent register, indicators store,
    the association's pseudonymisation key for the national evaluation export)."""

    protocols: tuple[str, ...] = ("bpco-tabac", "diabete-t2", "risque-cv")  # codes the nurse may choose from
    spirometry_protocol: str = "bpco-tabac"  # default protocol of a spirometry (CLI without --protocol, imports)
    ecg_protocol: str = "risque-cv"  # default protocol of an ECG (CLI without --protocol, watched folder)
    practice_id: str = ""  # the practice's code in the dashboard (default: FINESS, else "cabinet")
    department: str = ""  # INSEE department code of the practice (e.g. 51, 2A, 971)
    region: str = ""  # INSEE region code of the practice (e.g. 44 = Grand Est)
    key_file: str = ""  # the association's HMAC key file (evaluation export); never printed
    consent_register: str = ""  # default: consent.sqlite3 beside the outbox
    indicators: str = ""  # default: indicators/ beside the outbox


@dataclass(frozen=True)
class Config:
    devices: DevicesConfig = DevicesConfig()
    practice: PracticeConfig = PracticeConfig()
    nurse: PersonConfig = PersonConfig(family_name="INFIRMIERE", given_name="Demo")
    gp: PersonConfig = PersonConfig(family_name="MEDECIN", given_name="Demo")
    sink: SinkConfig = SinkConfig()
    watch: WatchConfig = WatchConfig()
    gdt: GdtConfig = GdtConfig()
    programme: ProgrammeConfig = ProgrammeConfig()
    outbox: str = "asalee-output/outbox.sqlite3"
    mains_hz: int = 50
    lang: str = "fr"
    equation: str = "gli-global-2022"
    test_mode: bool = True
    source: str = field(default="defaults")

    def redacted(self) -> dict[str, Any]:
        """The configuration as a dict with every secret replaced by ``"***"`` (or ``""`` when unset)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if hasattr(v, "__dataclass_fields__"):
                out[f.name] = {k.name: ("***" if k.name in SECRET_KEYS and getattr(v, k.name) else
                                        getattr(v, k.name)) for k in fields(v)}
            else:
                out[f.name] = v
        return out


_SECTIONS: dict[str, type] = {"devices": DevicesConfig, "practice": PracticeConfig, "nurse": PersonConfig,
                              "gp": PersonConfig, "sink": SinkConfig, "watch": WatchConfig, "gdt": GdtConfig,
                              "programme": ProgrammeConfig}


def _coerce(value: Any, target: Any, where: str) -> Any:
    if isinstance(target, tuple):  # a list of codes: a TOML array, or comma-separated text (environment)
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError("Invalid list", field=where, expected="a list of strings")
        return tuple(i.strip() for i in items if i.strip())
    if isinstance(target, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError("Invalid boolean", field=where, value=value, expected="true or false")
    if isinstance(target, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError("Invalid number", field=where, value=value, expected="a number") from None
    if isinstance(target, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError("Invalid whole number", field=where, value=value, expected="an integer") from None
    if not isinstance(value, str):
        raise ConfigError("Invalid text value", field=where, value=value, expected="a string")
    return value


def _apply(base: Any, data: Mapping[str, Any], prefix: str, problems: list[str] | None = None) -> Any:
    """``base`` updated from ``data``. With ``problems``, every bad key or value is appended there (and skipped)
    instead of raising at the first one."""
    known = {f.name: f for f in fields(base)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        try:
            if key not in known or key == "source":
                raise ConfigError("Unknown configuration key", field=where,
                                  expected="one of " + ", ".join(k for k in known if k != "source"))
            current = getattr(base, key)
            if hasattr(current, "__dataclass_fields__"):
                if not isinstance(value, Mapping):
                    raise ConfigError("Expected a table", field=where, value=type(value).__name__,
                                      expected=f"[{where}] section")
                changes[key] = _apply(current, value, where + ".", problems)
            else:
                changes[key] = _coerce(value, current, where)
        except ConfigError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
    return replace(base, **changes)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """``ASALEE_SINK_TYPE`` -> {"sink": {"type": ...}}; ``ASALEE_LANG`` -> {"lang": ...}; ``ASALEE_FHIR_TOKEN``
    is a shorthand for the sink token."""
    data: dict[str, Any] = {}
    top = {f.name for f in fields(Config)} - set(_SECTIONS) - {"source"}
    for name, value in env.items():
        if not name.startswith("ASALEE_") or name in {"ASALEE_CONFIG", "ASALEE_SHARED_DATA"}:
            continue
        key = name[len("ASALEE_"):].lower()
        if key == "fhir_token":
            data.setdefault("sink", {})["token"] = value
            continue
        section, _, rest = key.partition("_")
        if section in _SECTIONS and rest:
            data.setdefault(section, {})[rest] = value
        elif key in top:
            data[key] = value
    return data


def _device_problems(d: DevicesConfig) -> list[str]:
    from asalee_devices.drivers.registry import check_url

    problems: list[str] = []
    for key, kind in (("spirometer", "spirometer"), ("ecg", "ecg")):
        if "://" not in getattr(d, key):
            problems.append(f"devices.{key} = {getattr(d, key)!r}: expected a device URL such as sim://spirometer "
                            "or contec-spiro+serial://COM3")
            continue
        try:
            check_url(getattr(d, key), kind)
        except ConfigError as exc:
            problems.append(f"devices.{key} = {getattr(d, key)!r}: {exc}")
    return problems


def validate(cfg: Config) -> list[str]:
    """Problems that make the configuration unusable, each a sentence saying what to change."""
    problems: list[str] = _device_problems(cfg.devices)
    if cfg.sink.type not in SINK_TYPES:
        problems.append(f"sink.type = {cfg.sink.type!r}: expected one of {', '.join(SINK_TYPES)}")
    if cfg.sink.type == "folder" and not cfg.sink.folder:
        problems.append("sink.folder is empty: give the folder where bundles and PDFs are written")
    if cfg.sink.type == "hprim" and not cfg.sink.folder:
        problems.append("sink.folder is empty: give the folder the GP software (or the secure-messaging client) "
                        "imports HPRIM files from")
    for key in ("hprim_sender_code", "hprim_recipient_code"):
        code = getattr(cfg.sink, key)
        if len(code) > 10 or any(not 32 <= ord(c) < 256 or c == "|" for c in code):
            problems.append(f"sink.{key} must be at most 10 Latin-1 characters without '|'")
    if cfg.sink.type == "fhir":
        if not cfg.sink.base_url.startswith(("https://", "http://")):
            problems.append("sink.base_url must be the FHIR server's http(s) address for sink.type = 'fhir'")
        elif cfg.sink.base_url.startswith("http://") and not cfg.sink.base_url.startswith(
                ("http://127.0.0.1", "http://localhost", "http://[::1]")):
            problems.append("sink.base_url uses plain http to a remote host: use https")
        if cfg.sink.client_id and not cfg.sink.private_key:
            problems.append("SMART Backend Services needs sink.private_key with sink.client_id (sink.token_url is "
                            "discovered from the server's .well-known/smart-configuration when empty)")
        if cfg.sink.token_url and not cfg.sink.token_url.startswith("https://") and not _loopback(cfg.sink.token_url):
            problems.append("sink.token_url uses plain http to a remote host: use https")
        if cfg.sink.scope_syntax not in ("v1", "v2"):
            problems.append(f"sink.scope_syntax = {cfg.sink.scope_syntax!r}: expected v1 or v2")
        if cfg.sink.private_key and not Path(cfg.sink.private_key).is_file():
            problems.append(f"sink.private_key: file not found ({cfg.sink.private_key})")
    if cfg.practice.ecg_statements:
        from asalee_devices.fhir_out.ecg_statements import load_catalog

        try:
            load_catalog(cfg.practice.ecg_statements)
        except ConfigError as exc:
            problems.append(f"practice.ecg_statements: {exc}")
    if cfg.sink.timeout_s <= 0 or cfg.sink.attempts <= 0:
        problems.append("sink.timeout_s and sink.attempts must be positive")
    if cfg.sink.transaction_max_entries != 0 and cfg.sink.transaction_max_entries < 2:
        problems.append("sink.transaction_max_entries must be 0 (no limit) or at least 2")
    if cfg.sink.max_message_bytes < 0:
        problems.append("sink.max_message_bytes must be 0 (no known limit) or the receiver's frame limit in bytes")
    if cfg.sink.type == "mllp":
        if not cfg.sink.host:
            problems.append("sink.host is empty: give the HL7 v2 receiver's host for sink.type = 'mllp'")
        if not 0 < cfg.sink.port < 65536:
            problems.append(f"sink.port = {cfg.sink.port}: expected 1-65535")
        try:
            "é".encode(cfg.sink.charset)
        except LookupError:
            problems.append(f"sink.charset = {cfg.sink.charset!r}: unknown character set (e.g. iso-8859-1, utf-8)")
    if cfg.mains_hz not in (50, 60):
        problems.append(f"mains_hz = {cfg.mains_hz}: expected 50 (France) or 60")
    if cfg.lang not in LANGS:
        problems.append(f"lang = {cfg.lang!r}: expected fr or en")
    if cfg.equation not in EQUATIONS:
        problems.append(f"equation = {cfg.equation!r}: expected one of {', '.join(EQUATIONS)}")
    for role in ("nurse", "gp"):
        person: PersonConfig = getattr(cfg, role)
        if person.rpps and not (person.rpps.isdigit() and len(person.rpps) == 11):
            problems.append(f"{role}.rpps must be 11 digits")
        if person.adeli and not (person.adeli.isdigit() and len(person.adeli) == 9):
            problems.append(f"{role}.adeli must be 9 digits")
    if cfg.practice.finess and not (cfg.practice.finess.isdigit() and len(cfg.practice.finess) == 9):
        problems.append("practice.finess must be 9 digits")
    if cfg.practice.siret and not _siret_valid(cfg.practice.siret):
        problems.append("practice.siret must be the practice's 14-digit SIRET (its check digit is wrong)")
    problems.extend(national_identifier_problems(cfg))
    problems.extend(_watch_problems(cfg.watch))
    problems.extend(_gdt_problems(cfg.gdt))
    problems.extend(_programme_problems(cfg.programme))
    return problems


def _loopback(url: str) -> bool:
    from asalee_devices.fhir_out.sinks.smart import is_loopback

    return is_loopback(url)


def _siret_valid(value: str) -> bool:
    from stdnum.fr import siret

    return bool(siret.is_valid(value))


def national_identifier_problems(cfg: Config) -> list[str]:
    """Outside test mode every professional needs an RPPS and the practice a FINESS or SIRET: without a national
    identifier, two professionals with one name would be merged by the receiver (FR Core idNatPs / idNatSt)."""
    if cfg.test_mode:
        return []
    problems = [f"{role}.rpps is required outside test mode (the professional's 11-digit RPPS number)"
                for role in ("nurse", "gp") if getattr(cfg, role).family_name and not getattr(cfg, role).rpps]
    if not (cfg.practice.finess or cfg.practice.siret):
        problems.append("practice.finess or practice.siret is required outside test mode (the practice's national "
                        "identifier)")
    return problems


def _watch_problems(w: WatchConfig) -> list[str]:
    problems: list[str] = []
    if not w.settle_s >= 0 or w.settle_s > 3600:
        problems.append(f"watch.settle_s = {w.settle_s}: expected 0 to 3600 seconds")
    if w.mains_hz not in (0, 50, 60):
        problems.append(f"watch.mains_hz = {w.mains_hz}: expected 50, 60 or 0 (the top-level mains_hz)")
    if w.folder and Path(w.folder).exists() and not Path(w.folder).is_dir():
        problems.append(f"watch.folder = {w.folder!r} is a file: give the folder the ECG software exports into")
    if ":" not in w.patient_id_system or any(c.isspace() for c in w.patient_id_system):
        problems.append("watch.patient_id_system must be a URI (e.g. urn:oid:... of the practice's patient "
                        "numbers)")
    return problems


def _gdt_problems(g: GdtConfig) -> list[str]:
    problems: list[str] = []
    for key in ("sender_id", "receiver_id"):
        value = getattr(g, key)
        if not (1 <= len(value) <= 8 and value.isascii() and value.isalnum()):
            problems.append(f"gdt.{key} = {value!r}: expected 1-8 letters or digits (GDT ids name the files)")
    if g.version not in ("02.10", "03.00"):
        problems.append(f"gdt.version = {g.version!r}: expected 02.10 (GDT 2.1) or 03.00 (GDT 3.0)")
    if g.charset not in ("1", "2", "3"):
        problems.append(f"gdt.charset = {g.charset!r}: expected 1 (7-bit), 2 (IBM CP 437) or 3 (ISO 8859-1)")
    if g.file_extension.lower() != "counter" and not (g.file_extension.isascii() and g.file_extension.isalnum()
                                                      and 1 <= len(g.file_extension) <= 3):
        problems.append(f"gdt.file_extension = {g.file_extension!r}: expected GDT or counter")
    if not g.settle_s >= 0 or g.settle_s > 3600:
        problems.append(f"gdt.settle_s = {g.settle_s}: expected 0 to 3600 seconds")
    for key in ("folder", "out_folder"):
        value = getattr(g, key)
        if value and Path(value).exists() and not Path(value).is_dir():
            problems.append(f"gdt.{key} = {value!r} is a file: give a folder")
    if g.folder and g.out_folder and Path(g.folder).resolve() == Path(g.out_folder).resolve():
        problems.append("gdt.folder and gdt.out_folder are the same: our requests would be read back as results")
    if ":" not in g.patient_id_system or any(c.isspace() for c in g.patient_id_system):
        problems.append("gdt.patient_id_system must be a URI")
    return problems


def _programme_problems(p: ProgrammeConfig) -> list[str]:
    import re

    problems: list[str] = []
    if not p.protocols:
        problems.append("programme.protocols is empty: list the ASALEE protocols (e.g. bpco-tabac)")
    for code in p.protocols:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", code):
            problems.append(f"programme.protocols: {code!r} is not a code (lower-case letters, digits, '-')")
    for key in ("spirometry_protocol", "ecg_protocol"):
        value = getattr(p, key)
        if value and value not in p.protocols:
            problems.append(f"programme.{key} = {value!r}: expected one of programme.protocols or empty")
    if p.department and not re.fullmatch(r"(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-6])", p.department):
        problems.append(f"programme.department = {p.department!r}: expected an INSEE department code (01-95, "
                        "2A, 2B, 971-976)")
    if p.region and not re.fullmatch(r"[0-9]{2}", p.region):
        problems.append(f"programme.region = {p.region!r}: expected a 2-digit INSEE region code (e.g. 44)")
    return problems


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate the configuration; raises :class:`ConfigError` listing every problem."""
    cfg, problems = check_config(path, env)
    if problems:
        raise ConfigError("Invalid configuration: " + "; ".join(problems))
    return cfg


def check_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    """The configuration (bad keys and values skipped) and every problem found in it, the file's and the
    environment's unknown keys and bad values included; raises :class:`ConfigError` only when there is no file
    to read (missing, not TOML)."""
    env = os.environ if env is None else env
    problems: list[str] = []
    cfg = Config()
    file = Path(path) if path else (Path(env["ASALEE_CONFIG"]) if env.get("ASALEE_CONFIG") else None)
    if file is None and Path(DEFAULT_FILE).is_file():
        file = Path(DEFAULT_FILE)
    if file is not None:
        if not file.is_file():
            raise ConfigError("Configuration file not found", field="path", value=str(file))
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Configuration file is not valid TOML: {exc}", field="path",
                              value=str(file)) from None
        cfg = replace(_apply(cfg, data, "", problems), source=str(file))
    env_data = _from_env(env)
    if env_data:
        cfg = _apply(cfg, env_data, "", problems)
        cfg = replace(cfg, source=cfg.source + " + environment")
    return cfg, problems + validate(cfg)
