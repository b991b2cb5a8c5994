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
    for target in ("run", "test", "demo"):
        assert f"make {target}" in README and f"\n{target}:" in makefile


def test_the_strategy_table_is_the_registry():
    from vidseg.strategies import STRATEGIES

    rows = [line for line in README.splitlines() if line.startswith("| `") and line.count("|") == 4]
    documented = {line.split("`")[1]: line for line in rows if line.split("`")[1] in STRATEGIES}
    assert list(documented) == list(STRATEGIES)
    for name, strategy in STRATEGIES.items():
        assert documented[name] == f"| `{name}` | {'yes' if strategy.learns else 'no'} | {strategy.summary} |"
