"""Device URLs: ``<driver>+<transport>://location?option=value`` or ``sim://NAME?param=value``, parsed once into a
:class:`DeviceUrl` that every transport factory reads. Options a transport does not know are refused with the list
of those it accepts, as pyserial's URL handlers refuse theirs (``ValueError('unknown option: ...')``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import parse_qsl, urlsplit

from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import ConfigError

#: what a transport factory returns: a callable making a fresh transport at every (re)connection
TransportFactory: TypeAlias = Callable[[], Transport]


@dataclass(frozen=True)
class DeviceUrl:
    driver: str
    transport: str
    location: str  # host:port, device path, VID:PID or simulator name
    params: dict[str, str]
    raw: str

    @property
    def label(self) -> str:
        """The URL without its options (for messages and transport addresses)."""
        return self.raw.split("?", 1)[0]

    def check_options(self, accepted: Iterable[str]) -> None:
        """Refuse an option of the URL that is not in ``accepted`` (a misspelt ``?badu=`` must not be ignored)."""
        known = tuple(accepted)
        for name, value in self.params.items():
            if name not in known:
                raise ConfigError(f"Unknown option in the {self.transport}:// device URL", field=name, value=value,
                                  expected=", ".join(known) if known else "no option")

    def int_option(self, name: str, default: int | None = None) -> int | None:
        """The option ``name`` as an integer (decimal or 0x-hexadecimal), ``default`` when absent."""
        raw = self.params.get(name)
        if raw is None:
            return default
        return parse_int(raw, name)


def parse_int(value: str, field: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        raise ConfigError("Not an integer in the device URL", field=field, value=value) from None


def parse_url(url: str) -> DeviceUrl:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    params = dict(parse_qsl(parts.query))
    if scheme == "sim":
        return DeviceUrl(parts.netloc, "sim", parts.netloc, params, url)
    if "+" not in scheme:
        raise ConfigError("Device URL must name driver and transport", field="url", value=url,
                          expected="DRIVER+TRANSPORT://..., e.g. ecg12+socket://127.0.0.1:5555, or sim://DEVICE")
    driver, transport = scheme.split("+", 1)
    return DeviceUrl(driver, transport, parts.netloc + parts.path, params, url)
