"""Nurse-facing wording (French first, English available) for the reason codes that ``signal/`` returns.

``signal/`` computes codes and numbers only; the sentences a nurse reads live here, one catalogue per examination.
"""
