"""HPRIM Net ("HPRIM Médecins") output: the results file French practice software imports, rendered from the
canonical results of an examination (see docs/hprim.md)."""

from asalee_devices.hprim.render import HprimExam, HprimHeader, HprimParty, render_hprim

__all__ = ["HprimExam", "HprimHeader", "HprimParty", "render_hprim"]
