"""The one tenant-name check."""

from __future__ import annotations

import pytest

from logwarden.model.tenants import check_optional_tenant, check_tenant, is_tenant


@pytest.mark.parametrize("name", ["default", "a", "Team_1.prod-eu", "x" * 64, "9lives"])
def test_valid_names(name: str) -> None:
    assert is_tenant(name) and check_tenant(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "has space", "-lead", ".hidden", "a$b", "a/b", "name\n", "ünï"])
def test_invalid_names_are_refused_with_the_name_and_the_rule(name: str) -> None:
    assert not is_tenant(name)
    with pytest.raises(ValueError, match=r"invalid tenant name .*: tenant names are 1-64 characters"):
        check_tenant(name)


def test_unset_means_the_default() -> None:
    assert check_optional_tenant(None) is None
    with pytest.raises(ValueError, match="invalid tenant name"):
        check_optional_tenant("bad name")
