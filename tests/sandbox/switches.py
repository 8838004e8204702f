"""The three tests every sandbox's conforming variations get, written once.

`check(name, client)` asserts that a client's sandbox shows the variation `name`; the tests prove it does
with the variation, fails without it, and that all of them can be shown at once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import pytest

Check = Callable[[str, Any], None]


def variation_tests(
    names: Collection[str], check: Check, plain: Callable[[], Any], switched: Callable[..., Any]
) -> tuple[Callable[[str], None], Callable[[str], None], Callable[[], None]]:
    """Returns the three test functions for a sandbox module to bind at module level."""

    @pytest.mark.parametrize("name", sorted(names))
    def test_variation_changes_what_it_names(name: str) -> None:
        check(name, switched(name))

    @pytest.mark.parametrize("name", sorted(names))
    def test_variation_check_fails_without_the_variation(name: str) -> None:
        with pytest.raises(AssertionError):
            check(name, plain())

    def test_all_variations_show_together() -> None:
        client = switched(*names)
        for name in sorted(names):
            check(name, client)

    return (
        test_variation_changes_what_it_names,
        test_variation_check_fails_without_the_variation,
        test_all_variations_show_together,
    )


Probe = Callable[[Any], bool]


def probe_tests(
    variations: dict[str, str],
    probes: dict[str, Probe],
    options: dict[str, dict[str, Any]],
    varied: Callable[..., Any],
) -> tuple[Callable[[], None], Callable[[str], None]]:
    """Returns the two probe tests: every variation has a probe, and each probe is false without it, true with it.

    `varied(*names, **options)` builds a client of the sandbox showing `names`.
    """

    def test_every_variation_has_a_probe() -> None:
        assert set(variations) == set(probes)

    @pytest.mark.parametrize("variation", sorted(probes))
    def test_each_variation_changes_the_sandbox(variation: str) -> None:
        probe, extra = probes[variation], options.get(variation, {})
        assert not probe(varied(**extra)), "the plain sandbox already shows the variation"
        assert probe(varied(variation, **extra)), f"{variation}: {variations[variation]}"

    return test_every_variation_has_a_probe, test_each_variation_changes_the_sandbox
