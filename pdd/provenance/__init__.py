"""Provenance: the note record (:mod:`.record`), where blob ids, texts and notes of a
path come from (:mod:`.source`), and the one judge of a module's state (:mod:`.state`).

Importing this package imports none of them; the pre-commit hook imports only what it uses.
"""
