"""Non-fatal remarks about a valid scenario (printed by ``clustersim validate``)."""

from __future__ import annotations

from clustersim.scenario import catalog
from clustersim.scenario.model import Scenario

#: Relative disagreement between ``params_b`` and the architecture's count above which we warn.
PARAMS_TOLERANCE = 0.05


def scenario_warnings(s: Scenario) -> list[str]:
    out: list[str] = []
    arch = s.model_arch()
    if arch.get("params_b"):
        counted = catalog.params_from_architecture(arch) / 1e9
        if abs(counted - arch["params_b"]) > PARAMS_TOLERANCE * arch["params_b"]:
            out.append(f"model.params_b = {arch['params_b']} but the architecture has {counted:.2f}B parameters")
    if s.training.parallelism != "auto":
        par = s.parallelism()
        if par is not None and arch["layers"] % par.pp:
            out.append(f"{arch['layers']} layers on {par.pp} stages is uneven: the heaviest stage has "
                       f"{-(-arch['layers'] // par.pp)} layers and sets the pace")
    return out
