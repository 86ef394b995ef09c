"""Catalogues of the words shown to people (French first, English), kept out of the computing layers: ``signal/``
returns codes and values, renderers and workflows look the words up here."""
