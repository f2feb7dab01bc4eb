"""Many jobs on one shared fleet: node pools, a gang scheduler, shared spares and a repair crew.

``fleet(FILE)`` simulates a fleet file (docs/reference/fleet.md) and returns a :class:`FleetResult`;
``capacity_search`` finds the smallest pool meeting a queue-wait or completion target.
"""

from clustersim.fleet.capacity import CapacityResult, capacity_search, what_if
from clustersim.fleet.loader import FleetFile, load_fleet
from clustersim.fleet.results import FleetResult
from clustersim.fleet.runner import fleet, with_changes
from clustersim.fleet.spec import FleetSpec, fleet_json_schema

__all__ = ["fleet", "FleetResult", "FleetSpec", "FleetFile", "load_fleet", "fleet_json_schema", "with_changes",
           "capacity_search", "CapacityResult", "what_if"]
