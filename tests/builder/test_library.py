"""The block library against a real folder: rename, delete to the trash, restore, bad files."""

import json

import pytest

from builder import library, serialize
from builder.library import LibraryError
from tests.conftest import mlp_network


@pytest.fixture
def lib(tmp_path, monkeypatch):
    folder = tmp_path / "lib"
    monkeypatch.setenv("LAYERLOOM_LIBRARY", str(folder))
    return folder


def save(name, features=2):
    return library.save_entry(mlp_network("whatever", features=features), name)


def stored_name(path):
    return json.loads(path.read_text())["networks"][0]["name"]


def test_rename_moves_the_file_and_the_name_inside(lib):
    save("trunk")
    path = library.rename_entry("trunk", "mlp_trunk")
    assert path == lib / "mlp_trunk.loom" and list(library.entries()) == ["mlp_trunk"]
    assert stored_name(path) == "mlp_trunk"
    project = serialize.load(path)  # still opens as a project: the role follows the rename
    assert project.recipe.roles == {"model": "mlp_trunk"}
    assert set(library.load_entry(path).nodes) == {"x", "hidden", "relu", "logits", "y"}
    assert sorted(p.name for p in lib.iterdir()) == ["mlp_trunk.loom"]  # no .bak, no temp


def test_rename_changing_only_case(lib):
    save("trunk")
    library.rename_entry("trunk", "Trunk")
    assert list(library.entries()) == ["Trunk"] and stored_name(lib / "Trunk.loom") == "Trunk"


@pytest.mark.parametrize("new, why", [
    ("", "cannot be empty"),
    ("my block", "only letters, digits and _"),
    ("2nd", "does not start with a digit"),
    ("x" * 65, "at most 64"),
])
def test_rename_refuses_bad_names(lib, new, why):
    path = save("trunk")
    before = path.read_bytes()
    with pytest.raises(LibraryError, match=why) as err:
        library.rename_entry("trunk", new)
    assert "“trunk”" in str(err.value)
    assert path.read_bytes() == before and list(library.entries()) == ["trunk"]


def test_rename_takes_a_python_keyword(lib):
    save("trunk")  # node ids and network names may be keywords: the compiler mangles them
    path = library.rename_entry("trunk", "class")
    assert list(library.entries()) == ["class"] and stored_name(path) == "class"


@pytest.mark.parametrize("new", ["other", "OTHER"])
def test_rename_refuses_a_taken_name_and_changes_nothing(lib, new):
    a, b = save("trunk"), save("other", features=5)
    before = {p: p.read_bytes() for p in (a, b)}
    with pytest.raises(LibraryError, match="already has “other”") as err:
        library.rename_entry("trunk", new)
    assert "“trunk”" in str(err.value)
    assert {p: p.read_bytes() for p in (a, b)} == before
    assert sorted(p.name for p in lib.iterdir()) == ["other.loom", "trunk.loom"]


def test_rename_refuses_a_missing_entry(lib):
    save("trunk")
    with pytest.raises(LibraryError, match="“ghost”.*no block"):
        library.rename_entry("ghost", "spirit")
    assert list(library.entries()) == ["trunk"]


def test_rename_a_broken_entry_keeps_its_bytes(lib):
    lib.mkdir()
    (lib / "junk.loom").write_bytes(b"\xff\xfe not json")
    library.rename_entry("junk", "junk2")
    assert (lib / "junk2.loom").read_bytes() == b"\xff\xfe not json"


def test_delete_moves_to_the_trash_and_restore_brings_it_back(lib):
    path = save("trunk")
    before = path.read_bytes()
    gone = library.delete_entry("trunk")
    assert library.entries() == {} and not path.exists()
    assert gone.name == "trunk" and gone.path.read_bytes() == before
    assert gone.path.parent.parent == lib / ".trash"
    assert library.trashed() == [gone]
    assert library.restore_entry(gone) == "trunk"
    assert path.read_bytes() == before
    assert library.trashed() == [] and list((lib / ".trash").iterdir()) == []


def test_same_name_deleted_twice_never_collides_in_the_trash(lib):
    save("trunk", features=2)
    first = library.delete_entry("trunk")
    save("trunk", features=7)
    second = library.delete_entry("trunk")
    assert first.path != second.path and first.path.exists() and second.path.exists()
    assert {t.path for t in library.trashed()} == {first.path, second.path}
    # restoring both: the second one back gets a free name, never overwrites the first
    assert library.restore_entry(first.path) == "trunk"
    assert library.restore_entry(second) == "trunk1"
    assert library.load_entry(lib / "trunk.loom").nodes["x"].params["shape"] == [2]
    restored = library.load_entry(lib / "trunk1.loom")
    assert restored.name == "trunk1" and restored.nodes["x"].params["shape"] == [7]


def test_delete_and_restore_refuse_what_is_not_there(lib, tmp_path):
    with pytest.raises(LibraryError, match="Cannot delete “ghost”"):
        library.delete_entry("ghost")
    outside = tmp_path / "elsewhere" / "x.loom"
    outside.parent.mkdir()
    outside.write_text("{}")
    with pytest.raises(LibraryError, match="not in the library's trash"):
        library.restore_entry(outside)
    gone = library.delete_entry(save("trunk").stem)
    library.restore_entry(gone)
    with pytest.raises(LibraryError, match="no longer in the trash"):
        library.restore_entry(gone)


def test_broken_entries_are_listed_with_the_reason(lib):
    good = save("good")
    lib.joinpath("half.loom").write_text('{"format": "layerloom", ')
    lib.joinpath("binary.loom").write_bytes(b"\x00\xff\x00")
    lib.joinpath("folder.loom").mkdir()
    lib.joinpath("empty.loom").write_text("")
    assert set(library.entries()) == {"good", "half", "binary", "folder", "empty"}
    assert library.entry_problem(good) is None
    problems = {n: library.entry_problem(p) for n, p in library.entries().items() if n != "good"}
    assert "not valid JSON" in problems["half"]
    assert "not a text file" in problems["binary"]
    assert "is a folder" in problems["folder"]
    assert "not valid JSON" in problems["empty"]
    assert not any(str(lib) in why for why in problems.values())  # the palette names the entry


def test_free_name_keeps_case_and_ignores_it_for_clashes(lib):
    save("Trunk")
    assert library.free_name("trunk") == "trunk1"
    assert library.free_name("Trunk") == "Trunk1"
    save("Trunk1")
    assert library.free_name("TRUNK") == "TRUNK2"
    assert library.free_name("fresh") == "fresh"


def test_saving_over_an_entry_ignores_case_and_keeps_the_old_one_in_the_trash(lib):
    save("trunk", features=2)
    with pytest.raises(FileExistsError, match="'trunk'"):
        save("Trunk", features=5)  # the same entry on a case-blind disk
    library.save_entry(mlp_network("whatever", features=5), "Trunk", overwrite=True)
    assert list(library.entries()) == ["Trunk"]
    assert library.load_entry(library.entry_path("Trunk")).nodes["x"].params["shape"] == [5]
    gone = library.trashed()
    assert [t.name for t in gone] == ["trunk"]
    assert library.restore_entry(gone[0]) == "trunk1"  # back beside it, nothing overwritten
