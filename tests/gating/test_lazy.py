"""Tests for gating.lazy: the packages' names resolve on first use, unknown ones do not."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["gating", "gating.archive"])
def test_every_exported_name_resolves_and_nothing_else(package: str) -> None:
    """Each name in __all__ is there, dir() lists exactly __all__, an unknown name fails."""
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert dir(module) == sorted(module.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018 - the lookup is the test
