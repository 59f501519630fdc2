"""requirements.lock is what runs: it covers every requirement of pyproject.toml, pins each package with
hashes, and the environment the tests run in has exactly those versions.

Without it a fresh install once resolved a newer django-template-partials and two pages answered 500.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _locked() -> dict[str, tuple[str, str | None]]:
    """name -> (version, marker) for every pin of the lock, checking each has at least one hash."""
    pins: dict[str, tuple[str, str | None]] = {}
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    for number, line in enumerate(lines):
        match = PIN.match(line)
        if match:
            name, version, marker = match.groups()
            assert lines[number + 1].strip().startswith("--hash=sha256:"), f"{name} has no hash"
            pins[canonicalize_name(name)] = (version, marker)
    return pins


def _required() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["test"]]]


def test_every_requirement_of_pyproject_is_locked_at_an_allowed_version():
    pins = _locked()
    problems = {}
    for requirement in _required():
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems[name] = "not in requirements.lock: run `make lock`"
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            problems[name] = f"locked {pins[name][0]}, pyproject.toml asks {requirement.specifier}: run `make lock`"
    assert len(pins) > 100
    assert problems == {}


def test_the_running_environment_has_the_locked_versions():
    drift = {}
    for name, (version, marker) in _locked().items():
        if marker and not Marker(marker).evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            drift[name] = (installed, version)
    assert drift == {}
