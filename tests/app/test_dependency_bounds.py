"""The floors in pyproject.toml are the releases constraints/oldest.txt pins, the ones .ci/run
tests (scripts/test-oldest); the releases a run tests are within the bounds, and in that run they
are the pinned ones."""

import os
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

BOUNDED = {"fastapi", "starlette", "sqlalchemy", "pydantic", "standardwebhooks"}
"""Libraries bounded on both sides, each with its floor tested."""


def _bounds(project_root: Path) -> dict[str, SpecifierSet]:
    pyproject = tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    return {r.name.lower(): r.specifier for r in requirements if r.name.lower() in BOUNDED}


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, _, pinned = requirement.partition("==")
            assert pinned, f"{path.name}: {requirement!r} is not name==version"
            pins[name.strip().lower()] = pinned.strip()
    return pins


def test_each_bounded_library_has_a_floor_and_a_ceiling_and_its_floor_is_pinned(
    project_root: Path,
) -> None:
    bounds = _bounds(project_root)
    assert set(bounds) == BOUNDED
    floors: dict[str, str] = {}
    for name, specifier in bounds.items():
        operators = sorted(s.operator for s in specifier)
        assert operators == ["<", ">="], f"{name}{specifier}: want >=floor,<ceiling"
        floors[name] = next(s.version for s in specifier if s.operator == ">=")
    assert _pins(project_root / "constraints" / "oldest.txt") == floors


def test_the_installed_releases_are_within_the_bounds(project_root: Path) -> None:
    installed = {name: version(name) for name in BOUNDED}
    bounds = _bounds(project_root)
    outside = {n: v for n, v in installed.items() if not bounds[n].contains(v, prereleases=True)}
    assert not outside, f"installed outside pyproject.toml's bounds: {outside}"
    pinned = os.environ.get("IOC_HUB_TEST_PINNED")  # set by scripts/test-oldest
    if pinned:
        pins = _pins(project_root / pinned)
        assert {name: installed[name] for name in pins} == pins
