"""The README's settings table and quickstart stay true to the code."""

from pathlib import Path

from vidseg.settings import _VARIABLES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_environment_variable_is_documented():
    missing = [variable for variable, aliases, _ in _VARIABLES.values()
               for name in (variable, *aliases) if f"`{name}`" not in README]
    assert not missing, f"add these to the README's settings table: {missing}"


def test_quickstart_commands_exist_in_the_makefile():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    for target in ("run", "test"):
        assert f"make {target}" in README and f"\n{target}:" in makefile
