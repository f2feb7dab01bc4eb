"""Loading scenarios from files, mappings and ``--set`` overrides, with every error located.

Validation errors from pydantic are turned into :class:`~clustersim.errors.ErrorItem` with the dotted
field path, the file's line and column (from :mod:`clustersim.scenario.yamlsafe`), the value given, what
was expected, and for an unknown key the closest valid one.
"""

from __future__ import annotations

import os
import stat
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from clustersim.errors import ErrorItem, ScenarioError, visible
from clustersim.scenario.model import Scenario, cross_checks
from clustersim.scenario.spec import MAX_GPUS, MAX_NICS
from clustersim.scenario.yamlsafe import MAX_FILE_BYTES, Marks, read_yaml_bytes

__all__ = ["load_scenario", "check_file", "file_checks", "network_checks", "parse_override", "apply_overrides", "set_dotted", "read_scenario_mapping",
           "errors_from_validation"]

_TYPE_ERRORS = {"string_type", "literal_error", "float_type", "float_parsing", "int_type", "int_parsing",
                "bool_type", "bool_parsing", "model_type", "dict_type", "model_attributes_type"}


def _model_at(cls: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that holds the field at ``loc`` (for the list of valid keys)."""
    current: Any = cls
    for part in loc:
        model = _find_model(current)
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            alias = {f.alias: f for f in model.model_fields.values() if f.alias}
            field = alias.get(part)
        if field is None:
            return None
        current = field.annotation
    return _find_model(current)


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType or origin in (list, tuple, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _find_model(arg)
            if found is not None:
                return found
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _clean_loc(loc: tuple[Any, ...], data: Any, keep_last: bool) -> tuple[Any, ...]:
    """Drop pydantic's union-member tags (``'str'``, ``'ModelSpec'``...) that are not keys of the data."""
    out: list[Any] = []
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, Mapping) and part in current:
            out.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            out.append(part)
            current = current[part]
        elif last and keep_last and isinstance(current, Mapping):
            out.append(part)
    return tuple(out)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def errors_from_validation(exc: ValidationError, data: Any, marks: Marks | None) -> list[ErrorItem]:
    """Turn a pydantic ValidationError into located, de-duplicated ErrorItems."""
    raw = exc.errors(include_url=False)
    prepared: list[tuple[tuple[Any, ...], str, dict[str, Any]]] = []
    for err in raw:
        kind = err["type"]
        keep_last = kind in ("extra_forbidden", "missing")
        loc = _clean_loc(tuple(err["loc"]), data, keep_last)
        prepared.append((loc, kind, dict(err)))
    deeper = {loc[:n] for loc, _, _ in prepared for n in range(len(loc))}
    by_loc: dict[tuple[Any, ...], list[tuple[str, Any]]] = {}
    for loc, kind, details in prepared:
        if kind in _TYPE_ERRORS and loc in deeper:
            continue  # the data is a mapping: the scalar branch of a union is noise
        by_loc.setdefault(loc, []).append((kind, details))
    items: list[ErrorItem] = []
    for loc, errs in by_loc.items():
        path = visible(".".join(str(p) for p in loc))
        kind, err = errs[0]
        line, col = marks.find(loc, prefer_key=kind == "extra_forbidden") if marks else (None, None)
        if kind == "extra_forbidden":
            parent = _model_at(Scenario, loc[:-1])
            valid = _field_names(parent) if parent else []
            key = visible(str(loc[-1])) if loc else "?"
            import difflib  # (only for an error's hint)

            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            items.append(ErrorItem(
                f"unknown key `{key}`", path=path, line=line, column=col,
                expected="one of " + ", ".join(valid) if valid else None,
                hint=f"did you mean `{close[0]}`?" if close else None))
        elif kind == "missing":
            items.append(ErrorItem("required field is missing", path=path, line=line, column=col))
        else:
            msgs = []
            for _, e in errs:
                msg = e["msg"]
                if msg.startswith("Value error, "):
                    msg = msg[len("Value error, "):]
                if msg not in msgs:
                    msgs.append(msg)
            given = _short(err.get("input")) if "input" in err and not isinstance(err.get("input"), dict) else None
            items.append(ErrorItem("invalid value" if given is not None else msgs[0], path=path, line=line,
                                   column=col, given=given,
                                   expected=" or ".join(msgs) if given is not None else None))
    return items


def _locate(items: list[ErrorItem], marks: Marks | None) -> list[ErrorItem]:
    if marks is None:
        return items
    out = []
    for item in items:
        if item.line is None and item.path:
            loc = tuple(int(p) if p.isdigit() else p for p in item.path.split("."))
            line, col = marks.find(loc, prefer_key=True)
            item = ErrorItem(item.message, item.path, line, col, item.given, item.expected, item.hint)
        out.append(item)
    return out


def _validate(data: Any, marks: Marks | None, filename: str | None) -> Scenario:
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ScenarioError(ErrorItem(f"the top level is a {kind}", line=1 if marks else None, column=1 if marks else None,
                                      expected="a mapping with model, training and cluster"), filename)
    try:
        scenario = Scenario.model_validate(data, context={"defer_cross_checks": True})
    except ValidationError as exc:
        raise ScenarioError(errors_from_validation(exc, data, marks), filename) from None
    problems = cross_checks(scenario)
    problems = problems or (file_checks(scenario) + network_checks(scenario))
    if problems:
        raise ScenarioError(_locate(problems, marks), filename)
    return scenario


#: Where the network model's parameters (clustersim.topology.NetworkParams) come from in a scenario.
_NETWORK_KEYS = {"nodes": "cluster.nodes", "gpus_per_node": "cluster.gpus_per_node",
                 "scaleup_domain_gpus": "cluster.gpu.scaleup_domain_gpus"}


def network_checks(scenario: Scenario) -> list[ErrorItem]:
    """The network model's own checks (NIC and GPU counts that divide one another, scale-up domains
    that tile a node...), run at validation so that ``validate`` refuses what ``estimate`` would, with the
    scenario's key names (``cluster.network.nics_per_node``, not the model's ``network.nics_per_node``)."""
    from clustersim.planning import network_params  # planning imports the scenario package

    try:
        net = network_params(scenario)
    except ScenarioError as exc:
        out = []
        for item in exc.items:
            field = item.path.removeprefix("network.")
            path = _NETWORK_KEYS.get(field, f"cluster.network.{field}")
            out.append(ErrorItem(item.message, path, item.line, item.column, item.given, item.expected, item.hint))
        return out
    problems = []
    for what, per_node, most, path in (("GPUs", net.gpus_per_node, MAX_GPUS, "cluster.nodes"),
                                       ("NICs", net.nics_per_node, MAX_NICS, "cluster.network.nics_per_node")):
        if net.nodes * per_node > most:
            problems.append(ErrorItem(
                f"{net.nodes:,} nodes x {per_node} {what} = {net.nodes * per_node:,} {what}", path=path,
                expected=f"at most {most:,} {what} in all (the largest clusters built have ~200,000 GPUs)"))
    return problems


#: A failure trace is a CSV of observed failures, one short line each: 64 MiB is millions of failures.
MAX_TRACE_BYTES = 64 << 20


def file_checks(scenario: Scenario) -> list[ErrorItem]:
    """Files a scenario names must be regular files of bounded size (not a folder, a device such as
    /dev/zero, or a pipe that never ends), so that ``validate`` refuses what ``simulate`` would."""
    trace = scenario.failures.trace if scenario.failures is not None else None
    if trace is None:
        return []
    try:
        st = os.stat(trace)
    except FileNotFoundError:
        return [ErrorItem("the failure trace does not exist", path="failures.trace", given=repr(trace),
                          expected="a CSV file with the header time_hours,component,node")]
    except OSError as exc:
        return [ErrorItem(f"cannot read the failure trace: {exc.strerror}", path="failures.trace", given=repr(trace))]
    if not stat.S_ISREG(st.st_mode):
        return [ErrorItem("the failure trace is not a regular file", path="failures.trace", given=repr(trace),
                          expected="a CSV file (not a folder, device or pipe)")]
    if st.st_size > MAX_TRACE_BYTES:
        return [ErrorItem(f"the failure trace is {st.st_size / 2**20:,.0f} MiB", path="failures.trace",
                          given=repr(trace), expected=f"at most {MAX_TRACE_BYTES >> 20} MiB")]
    return []


def parse_override(text: str) -> tuple[list[str], Any]:
    """``key.path=value`` -> (path, value); the value is parsed as one YAML scalar, or a flow list of
    scalars for a list-valued key (``training.recompute_modules=[core_attn, layernorm]``); never evaluated."""
    if "=" not in text:
        raise ScenarioError(ErrorItem(f"--set expects key.path=value, got {text!r}", path="--set"))
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError(ErrorItem(f"--set has an empty key in {text!r}", path="--set"))
    if len(raw) > 10_000:
        raise ScenarioError(ErrorItem("--set value is too long", path=key))
    try:
        value, _ = read_yaml_bytes(raw.encode("utf-8"), "--set") if raw.strip() else (None, None)
    except ScenarioError as exc:
        raise ScenarioError([ErrorItem(i.message, path=key) for i in exc.items], "--set") from None
    if isinstance(value, dict) or (isinstance(value, list)
                                   and any(isinstance(item, (dict, list)) for item in value)):
        raise ScenarioError(ErrorItem(f"--set takes a single value or a list of them, got {type(value).__name__}"
                                      + (" of lists or mappings" if isinstance(value, list) else ""), path=key))
    return key.split("."), value


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``key = "a.b.c"`` in place, creating mappings on the way.

    A catalog name on the way (``model: llama3-70b``, ``cluster.gpu: h100-sxm-80gb``) becomes
    ``{preset: name}`` so that one of its fields can be overridden; ``auto`` or a missing value becomes a
    new mapping; any other scalar on the way is an error.
    """
    import copy

    path = key.split(".")
    node: Any = data
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if isinstance(child, str) and path[: i + 1] in (["model"], ["cluster", "gpu"]):
            child = {"preset": child}
        elif child is None or child == "auto":
            child = {}
        elif not isinstance(child, dict):
            raise ScenarioError(ErrorItem(f"cannot set {key}: {'.'.join(path[: i + 1])} is not a mapping", path=key))
        node[part] = child
        node = child
    node[path[-1]] = copy.deepcopy(value)


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of ``data`` with each ``key.path=value`` set (see :func:`set_dotted`)."""
    import copy

    out = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        set_dotted(out, ".".join(path), value)
    return out


def _read(path: Path) -> tuple[Any, Marks]:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ScenarioError(ErrorItem("no such file"), str(path)) from None
    except OSError as exc:
        raise ScenarioError(ErrorItem(f"cannot read the file: {exc.strerror}"), str(path)) from None
    if path.is_dir():
        raise ScenarioError(ErrorItem("is a directory, not a scenario file"), str(path))
    if size > MAX_FILE_BYTES:
        raise ScenarioError(ErrorItem(
            f"the file is {size / 2**20:.1f} MiB; scenario files are limited to {MAX_FILE_BYTES // 2**20} MiB"),
            str(path))
    with open(path, "rb") as fh:
        raw = fh.read(MAX_FILE_BYTES + 1)
    return read_yaml_bytes(raw, str(path))


def read_scenario_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A scenario file as written, not yet validated (a sweep's overrides may be what makes it valid).

    As :func:`load_scenario` does, the name defaults to the file's stem and a failure trace's path is
    taken relative to the scenario's folder.
    """
    p = Path(path)
    data, marks = _read(p)
    if not isinstance(data, dict):
        raise ScenarioError(ErrorItem(f"the top level is a {type(data).__name__}", line=1, column=1,
                                      expected="a mapping with model, training and cluster"), str(p))
    return dict(_prepare(data, p))


def _prepare(data: Any, path: Path | None) -> Any:
    if not isinstance(data, dict):
        return data
    if path is not None:
        data.setdefault("name", path.stem)
        failures = data.get("failures")
        if isinstance(failures, dict) and isinstance(failures.get("trace"), str):
            trace = Path(failures["trace"])
            if not trace.is_absolute():
                failures["trace"] = os.fspath(path.parent / trace)
        profile = data.get("calibration")
        if isinstance(profile, str) and not Path(profile).is_absolute():  # relative to the scenario file
            data["calibration"] = os.fspath(path.parent / profile)
    return data


def load_scenario(source: str | os.PathLike[str] | Mapping[str, Any] | Scenario,
                  overrides: Iterable[str] = ()) -> Scenario:
    """A validated :class:`Scenario` from a YAML file path, a mapping, or a Scenario (with overrides).

    Raises :class:`~clustersim.errors.ScenarioError` listing every problem, each with file:line:column.
    """
    overrides = list(overrides)
    if isinstance(source, Scenario):
        if not overrides:
            return source
        data: Any = source.model_dump(mode="json", by_alias=True, exclude_none=True)
        marks, filename, path = None, None, None
    elif isinstance(source, Mapping):
        data, marks, filename, path = dict(source), None, None, None
    else:
        path = Path(source)
        filename = str(path)
        data, marks = _read(path)
    data = _prepare(data, path)
    if overrides:
        if not isinstance(data, dict):
            return _validate(data, marks, filename)
        data = apply_overrides(data, overrides)
        try:
            return _validate(data, marks, filename)
        except ScenarioError as exc:
            raise ScenarioError(_blame_overrides(exc.items, overrides), filename) from None
    return _validate(data, marks, filename)


def _blame_overrides(items: list[ErrorItem], overrides: list[str]) -> list[ErrorItem]:
    """Errors in a value that came from ``--set`` name the option, not a line of the file."""
    keys = {text.partition("=")[0].strip(): text for text in overrides}
    out = []
    for item in items:
        text = next((t for k, t in keys.items() if item.path == k or item.path.startswith(k + ".")), None)
        if text is not None:
            hint = f"this comes from --set {text}" + (f"; {item.hint}" if item.hint else "")
            item = ErrorItem(item.message, item.path, None, None, item.given, item.expected, hint)
        out.append(item)
    return out


def check_file(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> tuple[Scenario | None, list[ErrorItem]]:
    """Validate one file; return the scenario (or None) and every problem found (for ``validate``)."""
    try:
        return load_scenario(path, overrides), []
    except ScenarioError as exc:
        return None, exc.items


def dump_yaml(scenario: Scenario) -> str:
    """The scenario as YAML (round-trips through :func:`load_scenario`)."""
    return yaml.safe_dump(scenario.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False)
