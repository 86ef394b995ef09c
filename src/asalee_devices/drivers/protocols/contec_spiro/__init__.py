"""Contec-family spirometer record download (reverse-engineered by a third party; see docs/protocols.md)."""
