"""The scenario format: minimal files, round trips, JSON Schema, overrides, fuzzed mutations."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustersim import Scenario, ScenarioError, load_scenario
from clustersim.cli import cli
from clustersim.scenario import dump_yaml
from clustersim.scenario.schema import scenario_json_schema
from clustersim.scenario.yamlsafe import read_yaml_bytes
from tests.conftest import MINIMAL, SCENARIOS, VALID

EXAMPLES = sorted(SCENARIOS.glob("*.yaml"))


def test_minimal_file_is_valid_with_documented_defaults(write):
    s = load_scenario(write(MINIMAL))
    assert s.training.parallelism == "auto"
    assert s.training.precision == "bf16"
    assert s.training.seq_len == 4096
    assert s.training.batch_seqs == 1024  # 2**22 tokens / 4096
    assert s.gpus == 16
    assert s.failures is None
    assert s.checkpoint.interval_minutes == "auto"
    assert s.name == "scenario"  # from the file name


def test_si_units_inside(write):
    s = load_scenario(write(VALID))
    assert s.failures is not None
    assert s.failures.detect_s == 300.0
    assert s.failures.repair_s == 24 * 3600.0
    assert s.checkpoint.write_bytes_per_s == 273e9


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_scenarios_validate(path):
    s = load_scenario(path)
    assert s.name


def test_examples_present():
    names = {p.name for p in EXAMPLES}
    assert {"quickstart.yaml", "gpt3-175b-megatron.yaml", "llama3-405b-16k.yaml", "llama2-70b-lora.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_round_trip_yaml_spec_dict_spec(path, tmp_path):
    s = load_scenario(path)
    d = s.model_dump(mode="json", by_alias=True)
    assert Scenario.model_validate(d) == s
    again = tmp_path / "again.yaml"
    again.write_text(dump_yaml(s))
    assert load_scenario(again) == s


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_json_schema_validates_every_example(path):
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    data, _ = read_yaml_bytes(path.read_bytes())
    jsonschema.validate(data, schema)


def test_schema_rejects_unknown_key():
    data = yaml.safe_load(VALID)
    data["cluster"]["nodez"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, scenario_json_schema())


def test_schema_command_matches_committed_file(tmp_path):
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(cli, ["schema", "-o", str(out)])
    assert result.exit_code == 0, result.output
    committed = SCENARIOS.parent / "docs" / "reference" / "scenario.schema.json"
    assert json.loads(out.read_text()) == json.loads(committed.read_text()), "run `clustersim schema -o docs/reference/scenario.schema.json`"


def test_overrides_are_yaml_scalars_and_revalidated(write):
    path = write(VALID)
    s = load_scenario(path, ["cluster.nodes=4", "training.parallelism.dp=8", "pricing.usd_per_gpu_hour=3"])
    assert s.cluster.nodes == 4 and s.parallelism().dp == 8 and s.usd_per_gpu_hour() == 3.0
    with pytest.raises(ScenarioError, match="tp\\*pp\\*dp\\*cp"):
        load_scenario(path, ["cluster.nodes=4"])
    s2 = load_scenario(path, ["model.layers=16"])  # a preset name becomes {preset: ...}
    assert s2.model_arch()["layers"] == 16 and s2.model_arch()["hidden_size"] == 4096


def test_override_never_evaluates(write):
    path = write(VALID)
    with pytest.raises(ScenarioError):
        load_scenario(path, ["name=!!python/object/apply:os.system [echo hi]"])


def test_chinchilla_tokens(write):
    s = load_scenario(write(MINIMAL.replace("tokens: 1.0e9", "tokens: chinchilla")))
    assert s.tokens() == pytest.approx(20 * 8.03e9, rel=0.02)


def test_dp_is_inferred(write):
    s = load_scenario(write(VALID.replace("    dp: 4\n", "")))
    par = s.parallelism()
    assert par is not None and par.dp == 4


def test_inline_gpu_and_model(write):
    text = MINIMAL.replace("model: llama3-8b", """model:
  layers: 4
  hidden_size: 512
  attention_heads: 8
  vocab_size: 32000""").replace("gpu: h100-sxm-80gb", """gpu:
    peak_tflops: {bf16: 500}
    memory_gib: 48
    hbm_gbyte_per_s: 1000
    scaleup_gbyte_per_s: 100""")
    s = load_scenario(write(text))
    assert s.model_arch()["ffn_hidden_size"] == 2048
    assert s.gpu()["memory_gib"] == 48


def test_uneven_layers_per_stage_valid(write):
    # Llama 3 405B runs 126 layers on 16 stages (Llama Team 2024, Table 4).
    s = load_scenario(SCENARIOS / "llama3-405b-16k.yaml")
    assert s.model_arch()["layers"] == 126 and s.parallelism().pp == 16


# ---- hypothesis: random mutations of valid files never raise anything but ScenarioError ----
_paths = [("cluster", "nodes"), ("training", "seq_len"), ("training", "tokens"), ("training", "precision"),
          ("training", "parallelism", "tp"), ("training", "parallelism", "dp"), ("training", "global_batch_seqs"),
          ("failures", "spare_nodes"), ("checkpoint", "interval_minutes"), ("simulation", "seed"), ("model",),
          ("cluster", "gpu"), ("pricing",), ("name",), ("training", "parallelism")]
_values = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=20), st.lists(st.integers(), max_size=3),
                    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(_paths), value=_values, drop=st.booleans(), extra=st.text(max_size=8))
def test_mutations_raise_only_scenario_error(path, value, drop, extra):
    data = yaml.safe_load(VALID)
    node = data
    for key in path[:-1]:
        node = node[key]
    if drop:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    if extra:
        node[extra] = 1
    try:
        load_scenario(data)
    except ScenarioError as exc:
        assert exc.render()


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300))
def test_random_text_raises_only_scenario_error(text, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "f.yaml"
    path.write_text(VALID[:150] + text, encoding="utf-8")
    try:
        load_scenario(path)
    except ScenarioError as exc:
        assert str(path) in exc.render()
