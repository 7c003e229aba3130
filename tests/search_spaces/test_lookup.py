"""The shipped spaces, presets and studies are found by name, a path is taken as a path, and an
unknown name is None (its callers name what is known)."""
from pathlib import Path

from search_spaces import (
    PRESETS_DIR,
    SPACES_DIR,
    find_preset,
    find_space,
    find_study,
    list_presets,
    list_spaces,
    list_studies,
    looks_like_path,
)


def test_every_listed_name_is_found_as_its_file():
    assert "smoke" in list_spaces() and "digits-simclr" in list_presets() and "paper_fmnist" in list_studies()
    for name in list_spaces():
        assert find_space(name) == SPACES_DIR / f"{name}.yaml"
    for name in list_presets():
        assert find_preset(name) == PRESETS_DIR / f"{name}.yaml"
    assert find_study("paper-fmnist") is not None and find_study("paper-fmnist") == find_study("paper_fmnist")


def test_a_path_is_a_path_and_an_unknown_name_is_none(tmp_path):
    assert looks_like_path("my.yaml") and looks_like_path("dir/space") and not looks_like_path("smoke")
    own = tmp_path / "mine.yaml"
    own.write_text("name: mine\n")
    assert Path(find_space(str(own))) == own
    assert find_space("no-such-space") is None and find_preset("no-such-preset") is None
