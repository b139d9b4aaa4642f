"""Revision 0005 (the Generate form per project): upgrade keeps projects, forms are stored."""

from __future__ import annotations

import sqlite3

import pytest

from idlora_studio.library import Library
from idlora_studio.library import migrate as mig
from idlora_studio.library.db import make_engine
from idlora_studio.library.projects_repo import ProjectNotFoundError, ProjectsRepository
from idlora_studio.library.repository import InvalidInputError

NOW = "2024-06-01 10:00:00.000000"


def _seed_revision_0004_project(paths) -> None:  # noqa: ANN001
    engine = make_engine(paths.db_path)
    mig.upgrade(engine, "0004")
    engine.dispose()
    con = sqlite3.connect(paths.db_path)
    with con:
        con.execute(
            "INSERT INTO projects (id, name, created_at, updated_at) VALUES (3, 'Old', ?, ?)",
            (NOW, NOW),
        )
    con.close()


def test_upgrade_from_0004_gives_old_projects_an_empty_form(paths) -> None:  # noqa: ANN001
    _seed_revision_0004_project(paths)
    lib = Library.open(paths)
    try:
        assert lib.migration is not None and lib.migration.from_revision == "0004"
        projects = ProjectsRepository.from_library(lib)
        assert projects.get(3).name == "Old"
        assert projects.generate_form(3) == {}
    finally:
        lib.close()
    assert mig.current_revision(paths.db_path) == mig.HEAD_REVISION


def test_form_is_kept_per_project_and_survives_reopening(paths) -> None:  # noqa: ANN001
    lib = Library.open(paths)
    try:
        projects = ProjectsRepository.from_library(lib)
        a, b = projects.create("A"), projects.create("B")
        before = projects.get(a).updated_at
        projects.save_generate_form(a, {"prompt": {"speech": "Grüße — hello"}, "takes": 3})
        projects.save_generate_form(b, {"prompt": {"speech": "other"}})
        assert projects.get(a).updated_at == before  # typing is not a project change
        with pytest.raises(InvalidInputError):
            projects.save_generate_form(a, ["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            projects.save_generate_form(a, {"x": float("nan")})
        with pytest.raises(ProjectNotFoundError):
            projects.save_generate_form(99, {})
    finally:
        lib.close()
    lib = Library.open(paths)
    try:
        projects = ProjectsRepository.from_library(lib)
        assert projects.generate_form(a) == {"prompt": {"speech": "Grüße — hello"}, "takes": 3}
        assert projects.generate_form(b) == {"prompt": {"speech": "other"}}
    finally:
        lib.close()
    # A damaged value reads as "no form" (the page starts from its defaults), never an error.
    con = sqlite3.connect(paths.db_path)
    with con:
        con.execute("UPDATE projects SET generate_form_json = '{broken' WHERE id = ?", (a,))
    con.close()
    lib = Library.open(paths)
    try:
        assert ProjectsRepository.from_library(lib).generate_form(a) == {}
    finally:
        lib.close()
