"""The :class:`Target` protocol: what an output language must provide.

An implementation is a module (as pre-commit's languages are modules satisfying its
``Language`` protocol) registered in :data:`pdd.targets.REGISTRY`. Paths are
repository-relative POSIX strings; module names are ``/``-separated
(``billing/invoice``); import names are dotted (``generated.billing.invoice``).
"""

from __future__ import annotations

from typing import Protocol


class Target(Protocol):
    """The output language of generated modules (see :mod:`pdd.targets`)."""

    # --- identity and layout ----------------------------------------------------
    #: registry name, e.g. ``"python"``
    NAME: str
    #: the language's name in messages, e.g. ``"Python"``
    LANGUAGE: str
    #: file name suffix of a module, e.g. ``".py"``
    SUFFIX: str
    #: the file that makes a folder a package, e.g. ``"__init__.py"``
    PACKAGE_FILE: str

    def output_path(self, name: str, generated_dir: str) -> str:
        """Default output file of module ``name``: ``billing/invoice`` ->
        ``generated/billing/invoice.py``."""
        ...

    def import_name(self, path: str) -> str:
        """Dotted import name of the module at ``path``:
        ``generated/billing/invoice.py`` -> ``generated.billing.invoice``."""
        ...

    def is_module_part(self, part: str) -> bool:
        """Whether ``part`` may be one component of a module name."""
        ...

    # --- model answers ----------------------------------------------------------
    #: the code-fence language tag the model is asked for, e.g. ``"python"``
    FENCE_TAG: str

    def extract_code(self, answer: str) -> str:
        """The module source in a model answer; raises :class:`pdd.extract.NoCodeError`."""
        ...

    def check_compiles(self, code: str, filename: str) -> str | None:
        """``None`` if ``code`` compiles, else a one-line ``file:line: problem``."""
        ...

    # --- interfaces (early cutoff) ----------------------------------------------
    def extract_interface(self, source: str, filename: str = "<module>") -> str:
        """Public interface of ``source`` as text; raises :class:`SyntaxError`."""
        ...

    # --- generation-template words ----------------------------------------------
    #: e.g. ``"Python module"``
    MODULE_KIND: str
    #: the rule of the generation template saying which libraries the module may use
    LIBRARY_RULE: str

    # --- scaffold of ``pdd new`` and ``pdd init`` --------------------------------
    #: package template of the placeholder behavior-test file (``pdd/templates/``)
    TEST_TEMPLATE: str
    #: the style fragment ``pdd init`` writes and ``pdd new`` includes (under prompts/)
    STYLE_FRAGMENT: str
    #: its text
    STYLE_TEXT: str

    def test_path(self, tests_dir: str, stem: str) -> str:
        """Default behavior-test file of a module whose name ends in ``stem``."""
        ...

    # --- language-dependent lint rules ------------------------------------------
    #: source of the collection-time stand-ins for generated modules not built yet
    COLLECTION_STUB: str

    def imports(self, source: str, module: str) -> list[tuple[int, str, list[str]]]:
        """``(line, imported module, members)`` of every import in ``source`` (of
        module ``module``); raises :class:`SyntaxError`."""
        ...

    # --- behavior tests and the differential engine -----------------------------
    #: the test runner, e.g. ``"pytest"``
    TEST_RUNNER: str

    def test_command(self) -> list[str]:
        """argv base that runs the test runner when no ``tests.command`` is configured."""
        ...

    def differential_command(self, config_path: str) -> list[str]:
        """argv of the differential runner for a run described by ``config_path``."""
        ...
