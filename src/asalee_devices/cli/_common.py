"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from typing import Any

from asalee_devices.jsonable import to_jsonable

__all__ = ["print_json", "to_jsonable"]


def print_json(obj: Any) -> None:
    json.dump(to_jsonable(obj), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
