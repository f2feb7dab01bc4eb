"""Start-up stays lazy: ``import clustersim`` and ``clustersim --help`` load none of the heavy libraries."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("plotly", "dask", "simpy", "networkx")


def _loaded_after(code: str) -> list[str]:
    """Heavy top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_clustersim_loads_no_heavy_library():
    assert _loaded_after("import clustersim") == []


def test_help_loads_no_heavy_library():
    code = ("from clustersim.cli import cli\n"
            "try:\n    cli(['--help'], prog_name='clustersim')\nexcept SystemExit as e:\n    assert e.code == 0\n")
    assert _loaded_after(code) == []


def test_version_needs_no_importlib_metadata():
    result = subprocess.run([sys.executable, "-c", "import sys, clustersim; print('importlib.metadata' in sys.modules)"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


def test_version_is_pyprojects():
    import clustersim

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    assert declared is not None
    assert clustersim.__version__ == declared.group(1)


@pytest.mark.parametrize("name", ["estimate", "search", "simulate", "fleet"])
def test_a_public_function_is_not_replaced_by_its_submodule(name):
    """Importing ``clustersim.<name>`` (the module) leaves ``clustersim.<name>`` the public function."""
    code = (f"import importlib, clustersim\nimportlib.import_module('clustersim.{name}')\n"
            f"import clustersim.{name} as m\nprint(callable(clustersim.{name}), callable(m), "
            f"type(clustersim.{name}).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "True", "function"]


def test_every_public_name_loads_lazily():
    import clustersim

    for name in clustersim.__all__:
        assert getattr(clustersim, name) is not None, name
    with pytest.raises(AttributeError):
        clustersim.no_such_name  # noqa: B018


@pytest.mark.parametrize("kind", ["gpus", "models", "prices", "reliability"])
def test_catalogs_read_the_same_with_the_fast_loader(kind):
    """The catalogs load through libyaml where PyYAML has it; the data equal pure-Python safe_load's."""
    from importlib import resources

    import yaml

    from clustersim.scenario import catalog

    text = resources.files(catalog.__name__).joinpath(f"{kind}.yaml").read_text(encoding="utf-8")
    assert catalog._load(kind) == yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506
    if getattr(yaml, "__with_libyaml__", False):
        assert catalog._SAFE_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("kind", ["gpus", "models", "prices", "reliability", "kernel_model"])
def test_a_look_up_parses_only_its_entry_and_reads_the_same(kind):
    """One name's look-up parses that entry's lines only (the file is indexed by its top-level names); each
    entry so read equals the whole file's, and the index holds exactly the file's names."""
    from clustersim.scenario import catalog

    whole = catalog._load(kind)
    index = catalog._index(kind)
    assert index is not None and sorted(index) == sorted(whole)
    for name, entry in whole.items():
        assert catalog._entry(kind, name) == entry, name
    assert catalog._entry(kind, "no-such-entry") is None


def test_a_catalog_index_refuses_a_layout_it_does_not_understand(monkeypatch):
    """A flow value, a quoted key or a repeated name at column 0: no index (the whole file is parsed)."""
    from clustersim.scenario import catalog

    for text in ("a:\n  x: 1\nb: {x: 2}\n", "'a':\n  x: 1\n", "a:\n  x: 1\na:\n  x: 2\n", "---\na:\n  x: 1\n"):
        catalog._index.cache_clear()
        monkeypatch.setattr(catalog, "_text", lambda kind, text=text: text)
        assert catalog._index("test") is None, text
    catalog._index.cache_clear()


def test_an_estimate_builds_no_graph():
    """The healthy fabric of a standard topology is closed-form: an estimate never imports networkx."""
    loaded = _loaded_after("import clustersim\nclustersim.estimate(clustersim.load_scenario("
                           "'scenarios/gpt3-175b-megatron.yaml'))")
    assert "networkx" not in loaded and "plotly" not in loaded and "dask" not in loaded


def test_catalog_accessors_return_independent_copies():
    from clustersim.scenario import catalog

    for get, name in ((catalog.gpu, "h100-sxm-80gb"), (catalog.kernel_model, "h100-sxm-80gb")):
        first = get(name)
        assert first == get(name)
        for value in first.values():  # change every nested mapping and list of the copy
            if isinstance(value, dict):
                value["changed"] = True
            elif isinstance(value, list):
                value.append("changed")
        first["changed"] = True
        assert get(name) != first and "changed" not in get(name)
        assert all(not (isinstance(v, dict) and "changed" in v) for v in get(name).values())


def _last_lines(code: str, n: int) -> list[str]:
    """The last ``n`` lines ``code`` prints in a fresh interpreter (it must succeed)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-n:]


def test_estimate_loads_only_the_intervals_of_calibrate():
    """``estimate`` needs the prediction intervals, not the fit, the log readers or the profile models; the
    package's public names still load on first use."""
    code = ("import sys, clustersim\nclustersim.estimate('scenarios/gpt3-175b-megatron.yaml')\n"
            "print(sorted(m for m in sys.modules if m.startswith('clustersim.calibrate.')))\n"
            "from clustersim.calibrate import Interval, calibrate, load_profile\n"
            "print(callable(calibrate), callable(load_profile), Interval.__name__)")
    loaded, names = _last_lines(code, 2)
    assert "clustersim.calibrate.intervals" in loaded
    for heavy in ("run", "fit", "logs", "failurelog", "measurements", "profile"):
        assert f"'clustersim.calibrate.{heavy}'" not in loaded, loaded
    assert names.split() == ["True", "True", "Interval"]


def test_search_json_loads_neither_rich_nor_numpy_ma():
    """``clustersim search --json`` prints JSON: no table library, and no masked arrays (np.unique's)."""
    code = ("import sys\nfrom clustersim.cli import cli\ntry:\n"
            "    cli(['search', 'scenarios/llama3-405b-16k.yaml', '--json', '--top', '2'], prog_name='clustersim')\n"
            "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "print(sorted({m for m in sys.modules if m.split('.')[0] == 'rich' or m.split('.')[:2] == ['numpy', 'ma']}))")
    assert _last_lines(code, 1) == ["[]"]


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_search_loads_no_heavy_library(extra):
    """``clustersim search`` (tables or JSON) needs neither the graph library (the standard fabrics are closed
    forms), nor the simulator, the plotting or the parallel libraries: each would add its import to the
    whole-process time that benchmarks/bench_search.py measures."""
    code = ("from clustersim.cli import cli\ntry:\n"
            f"    cli(['search', 'scenarios/llama3-405b-16k.yaml', '--top', '2', *{extra!r}], prog_name='clustersim')\n"
            "except SystemExit as e:\n    assert e.code in (0, None), e.code\n")
    assert _loaded_after(code) == []


@pytest.mark.parametrize("args", [["estimate", "scenarios/gpt3-175b-megatron.yaml"],
                                  ["estimate", "scenarios/gpt3-175b-megatron.yaml", "--json"]])
def test_an_estimate_of_one_layout_imports_no_numpy(args):
    """One given layout is plain Python (evaluate_one, theory for one point): numpy is not imported, and
    neither is the table library, under --json or with the tables' text to a pipe (clustersim.cli_text)."""
    code = ("import sys\nfrom clustersim.cli import cli\ntry:\n"
            f"    cli({args!r}, prog_name='clustersim')\n"
            "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'rich'}))")
    assert _last_lines(code, 1) == ["[]"]


def test_provenance_names_the_numpy_it_would_load_without_loading_it():
    code = ("import sys\nfrom clustersim.results import provenance\nv = provenance()['numpy_version']\n"
            "loaded = 'numpy' in sys.modules\nimport numpy\nprint(loaded, v == numpy.__version__)")
    assert _last_lines(code, 1) == ["False True"]


@pytest.mark.parametrize("args", [["estimate", "scenarios/gpt3-175b-megatron.yaml"],
                                  ["estimate", "scenarios/gpt3-175b-megatron.yaml", "--json"]])
def test_a_cli_estimate_needs_no_importlib_metadata(args):
    """Neither pydantic's plugin loader (every plugin is disabled: clustersim.cli stands in for it) nor
    numpy's version (read from its dist-info) imports importlib.metadata and its e-mail parser."""
    code = ("import sys\nsys.argv = ['clustersim', *" + repr(args) + "]\nfrom clustersim.cli import main\ntry:\n"
            "    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "print(sorted(m for m in ('importlib.metadata', 'email.message', 'numpy') if m in sys.modules))")
    assert _last_lines(code, 1) == ["[]"]


def test_the_plugin_loader_stand_in_answers_as_pydantics_and_steps_aside():
    """The stand-in gives no plugins while PYDANTIC_DISABLE_PLUGINS disables them all, as pydantic's
    loader does; any other name (or a variable changed since) loads the real loader in its place; a user's
    own value of the variable keeps the real loader from the start."""
    code = ("import os, sys\nos.environ.pop('PYDANTIC_DISABLE_PLUGINS', None)\n"
            "from clustersim.cli import start_up_environment\nstart_up_environment()\n"
            "stand_in = sys.modules['pydantic.plugin._loader']\n"
            "print(stand_in.get_plugins() == (), 'importlib.metadata' in sys.modules)\n"
            "group = stand_in.PYDANTIC_ENTRY_POINT_GROUP\nreal = sys.modules['pydantic.plugin._loader']\n"
            "print(group, real is not stand_in, list(real.get_plugins()) == [])")
    assert _last_lines(code, 2) == ["True False", "pydantic True True"]
    own = ("import os, sys\nos.environ['PYDANTIC_DISABLE_PLUGINS'] = ''\n"
           "from clustersim.cli import start_up_environment\nstart_up_environment()\n"
           "print('pydantic.plugin._loader' in sys.modules)")
    assert _last_lines(own, 1) == ["False"]


def test_a_version_read_beside_the_package_is_importlib_metadatas():
    from importlib import metadata

    from clustersim.results import _version_beside_package

    for name in ("numpy", "pydantic", "click"):
        assert _version_beside_package(name) == metadata.version(name), name
    assert _version_beside_package("no_such_package_here") is None
