"""In-process tests of the hook's narrow plan helpers in pdd.check."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pdd.check import _folders

_part = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True)
_path = st.lists(_part, min_size=2, max_size=4).map("/".join)


def test_one_pathspec_per_folder_and_files_of_top_level_folders_named_themselves():
    paths = {"prompts/pkg/a.prompt", "prompts/pkg/b.prompt", "generated/pkg/a.py", "generated/pkg/__init__.py",
             "generated/__init__.py", "prompts/top.prompt"}
    assert _folders(paths) == ["generated/__init__.py", "generated/pkg", "prompts/pkg", "prompts/top.prompt"]


@given(st.sets(_path, max_size=30))
def test_the_pathspecs_cover_every_path_and_never_a_whole_top_level_folder(paths):
    specs = _folders(paths)
    assert all(any(p == s or p.startswith(s + "/") for s in specs) for p in paths)
    assert all("/" in s for s in specs)  # never "prompts" or "generated" alone
    assert len(specs) <= len(paths)
