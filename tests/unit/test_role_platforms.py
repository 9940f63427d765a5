"""Roles claim only the platform the lab tests (issue 21: EL was claimed while package installs are apt-only), and
each README says what else should work and why it is untested."""

from __future__ import annotations

from pathlib import Path

import yaml

from ascend_env.lab.config import build_config

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent for p in (ROOT / "roles").glob("*/meta/main.yml"))
#: Debian release numbers of the suites the lab can build (debootstrap suite names)
DEBIAN_RELEASE = {"bullseye": "11", "bookworm": "12", "trixie": "13"}


def test_every_role_claims_only_the_lab_suite():
    suite = build_config(None, prefix=Path("/srv/lab-test"), cache=Path("/srv/lab-cache")).suite  # the lab's image
    assert len(ROLES) >= 10
    for role in ROLES:
        meta = yaml.safe_load((role / "meta/main.yml").read_text())
        assert meta["galaxy_info"]["platforms"] == [{"name": "Debian", "versions": [suite]}], role.name


def test_every_role_readme_says_what_is_tested_and_what_is_not():
    suite = build_config(None, prefix=Path("/srv/lab-test"), cache=Path("/srv/lab-cache")).suite
    for role in ROLES:
        text = (role / "README.md").read_text()
        assert "\n## Platforms\n" in text, f"{role.name}/README.md: add a Platforms section"
        section = text.split("\n## Platforms\n", 1)[1].split("\n## ", 1)[0]
        assert f"Debian {DEBIAN_RELEASE[suite]} ({suite})" in section, role.name
        assert "untested" in section.lower(), role.name
