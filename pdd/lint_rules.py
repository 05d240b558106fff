"""The rule ids of ``pdd lint`` and what each checks (:mod:`pdd.lint`).

A module of its own, with no imports, so that :mod:`pdd.prompt` can validate a
prompt's ``lint: {disable: [...]}`` without importing the linter (no import cycle
``prompt`` -> ``lint``).
"""

RULES: dict[str, str] = {
    "prompt-invalid": "the prompt does not parse or render, or its dependencies are unknown or cyclic",
    "section-missing": "a required section has no heading",
    "section-empty": "a section has nothing under its heading",
    "section-hint": "a section holds only the hint line written by `pdd new`",
    "no-tests": "a behavior-test file of the module does not exist",
    "tests-opted-out": "the prompt opts out of behavior tests (`tests: []` with `untested_reason`)",
    "tests-collect-zero": "the module's behavior tests collect zero items",
    "tests-collect-error": "a behavior-test file fails to collect",
    "tests-placeholder": "a behavior-test file still holds the placeholder test of `pdd new`",
    "include-missing": "an include names a file that does not exist",
    "uses-missing": "a project file listed under 'uses' does not exist or does not parse",
    "dep-unused": "a declared dependency is never imported by the generated module",
    "import-undeclared": "the generated module imports a generated module that is not a declared dependency",
    "prompt-too-large": "the rendered prompt is larger than lint.max_prompt_chars",
    "req-duplicate": "a requirement id is used twice in one prompt",
    "req-malformed": "a list item starts with a bracketed token that is not a requirement id",
    "req-untested": "no behavior test cites a requirement",
    "req-dangling": "a behavior test cites a requirement id its prompts do not define",
}
