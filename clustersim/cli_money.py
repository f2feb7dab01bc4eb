"""Money and planning commands: dollars, costs, plan, finetune, spot (registered on the main group)."""

from __future__ import annotations

from typing import Any, cast

import click

from clustersim.cli_conventions import (
    default_workers,
    json_option,
    output_option,
    progress_reporter,
    workers_option,
)
from clustersim.cli_errors import user_errors
from clustersim.cli_shared import F, _console, emit_result, scenario_arg, set_option


def _csv_option(func: F) -> F:
    return cast(F, click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
                                help="Also write the table as CSV (atomic).")(func))


def _finish(result: Any, tables: Any, *, as_json: bool, csv_path: str | None, output: str | None,
            report_path: str | None = None, kind: str | None = None) -> None:
    """What every money command does with its result: CSV, HTML report, then JSON (-o, --json) or tables
    and notes."""
    if csv_path:
        result.write_csv(csv_path)
    if report_path:
        from clustersim.report import render_report

        render_report(result.to_dict(), report_path, kind=kind)
    if emit_result(result.to_dict(), as_json, output):
        return
    console = _console()
    headline = getattr(result, "headline", None)
    if headline:
        console.print(f"[bold red]{headline}[/]")
    for table in tables if isinstance(tables, list) else [tables]:
        console.print(table)
    for note in getattr(result, "notes", ()):
        console.print(f"note: {note}")


@click.command()
@scenario_arg
@set_option
@click.option("--price", help="Price preset name or USD per GPU-hour (default: the scenario's).")
@click.option("--simulate", "run_sim", is_flag=True, help="Also simulate, for the mean, p50, p90 and p99.")
@click.option("--replicas", type=click.IntRange(2, 1_000_000), help="Replicas with --simulate.")
@click.option("--failures-only", is_flag=True,
              help="With --simulate: failure randomness only (no step-time factor or failure-rate draws).")
@click.option("--usd-per-kwh", type=click.FloatRange(min=0), help="Energy price (default: pricing.energy).")
@click.option("--pue", type=click.FloatRange(min=1.0), help="Power usage effectiveness (default: pricing.energy.pue).")
@click.option("--storage-usd-per-tb-month", type=click.FloatRange(min=0), help="Checkpoint storage price.")
@click.option("--retained-checkpoints", type=click.IntRange(1, 10_000),
              help="Checkpoints kept in storage at once (for the storage bill); default: checkpoint.retention, "
                   "else 2 (a run on the strategy engine without retention keeps all it writes).")
@workers_option(256)
@json_option("the dollars")
@output_option()
@_csv_option
@user_errors
def dollars(file: str, overrides: tuple[str, ...], price: str | None, run_sim: bool, replicas: int | None,
            failures_only: bool, usd_per_kwh: float | None, pue: float | None, storage_usd_per_tb_month: float | None,
            retained_checkpoints: int | None, workers: int | None, as_json: bool, output: str | None,
            csv_path: str | None) -> None:
    """GPU time, energy and checkpoint storage of FILE's run: failure-free, expected, simulated p50/p90/p99.

    With --simulate each replica also draws its step-time factor and failure rates (parameter
    uncertainty), and the failure-only p50/p90/p99 are shown beside them; --failures-only turns it off.

    A scenario with resilience keys only the strategy engine simulates (an in-memory checkpoint tier,
    cold spares, per-replica fault tolerance, node health, silent corruption) is billed as simulate and
    resilience bill it: its hot spares, the cold spares' node-hours (from --simulate), the memory tier's
    host memory and the storage checkpoints it retains.

    Refuses (exit 2) a run that does not fit in memory or cannot finish; with --simulate, a run some
    of whose replicas do not finish is marked in the headline and the JSON, exit 3.
    """
    from clustersim.money import dollars as run_dollars
    from clustersim.money.tables import dollars_table

    result = run_dollars(file, set=overrides, price=price, simulate=run_sim, replicas=replicas,
                         parameter_uncertainty=not failures_only, workers=workers or default_workers(), usd_per_kwh=usd_per_kwh, pue=pue,
                         storage_usd_per_tb_month=storage_usd_per_tb_month,
                         retained_checkpoints=retained_checkpoints)
    _finish(result, dollars_table(result), as_json=as_json, csv_path=csv_path, output=output)
    if result.headline:
        from clustersim.cli_conventions import EXIT_UNFINISHED

        raise click.exceptions.Exit(EXIT_UNFINISHED)


@click.command()
@click.argument("models", nargs=-1)
@click.option("--tokens", default="chinchilla", show_default=True,
              help="Tokens per model (e.g. 2T, 1.5e12) or 'chinchilla' (20 per parameter).")
@click.option("--gpu", "gpu_types", multiple=True, default=("h100-sxm-80gb",), show_default=True,
              help="Catalog GPU (repeat for several).")
@click.option("--gpus", default="1024,4096,16384", show_default=True,
              help="GPU counts: 1024, 512,1024,4096 or a doubling range 512:16384.")
@click.option("--base", type=click.Path(dir_okay=False, path_type=str),
              help="A scenario whose recipe, network, failures and prices every point shares.")
@click.option("--price", help="Price preset or USD per GPU-hour for every GPU type.")
@click.option("--reliability", default="kokolis-rsc1", show_default=True,
              help="Reliability preset for the expected goodput ('none' for failure-free).")
@set_option
@json_option("the table and curves")
@output_option()
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write the HTML report.")
@_csv_option
@user_errors
def costs(models: tuple[str, ...], tokens: str, gpu_types: tuple[str, ...], gpus: str, base: str | None,
          price: str | None, reliability: str, overrides: tuple[str, ...], as_json: bool, output: str | None,
          report_path: str | None, csv_path: str | None) -> None:
    """Time and dollars per model size (catalog MODELS or sizes like 7B 70B 1T; default 1B to 1T).

    --set applies to the recipe every point shares (the --base scenario, or the default recipe).
    """
    from clustersim.money import costs as run_costs
    from clustersim.money.costs import DEFAULT_SIZES
    from clustersim.money.tables import costs_table

    with progress_reporter(not as_json, "costs") as progress:
        result = run_costs(list(models) or list(DEFAULT_SIZES), tokens=tokens, gpu=list(gpu_types), gpus=gpus,
                           base=base, set=overrides, price=price,
                           reliability=None if reliability == "none" else reliability, progress=progress)
    _finish(result, costs_table(result), as_json=as_json, csv_path=csv_path, output=output,
            report_path=report_path, kind="costs")


@click.command()
@click.option("--budget-usd", type=click.FloatRange(min=0, min_open=True), required=True,
              help="The money to spend on the run, failures included (USD).")
@click.option("--deadline-days", type=click.FloatRange(min=0, min_open=True),
              help="The run (failures included) must finish within this many days (default: 90).")
@click.option("--tokens-per-param", type=click.FloatRange(min=0, min_open=True),
              help="Train on this many tokens per parameter (default 20, Chinchilla; today's small models "
                   "are over-trained: Llama 3 8B saw ~1,900).")
@click.option("--gpu", default="h100-sxm-80gb", show_default=True, help="Catalog GPU.")
@click.option("--gpus", default="8:32768", show_default=True, help="Cluster sizes to consider (doubling range or list).")
@click.option("--price", help="Price preset or USD per GPU-hour (default: the GPU's newest on-demand price).")
@click.option("--base", type=click.Path(dir_okay=False, path_type=str), help="A scenario for the recipe.")
@set_option
@json_option("the plan")
@output_option()
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write the HTML report.")
@_csv_option
@user_errors
def plan(budget_usd: float, deadline_days: float | None, tokens_per_param: float | None, gpu: str, gpus: str,
         price: str | None, base: str | None, overrides: tuple[str, ...], as_json: bool, output: str | None,
         report_path: str | None, csv_path: str | None) -> None:
    """The largest model a budget trains by a deadline: size, tokens, cluster, days, predicted loss, trade-off.

    --set applies to the recipe (the --base scenario, or the default recipe).
    """
    from clustersim.money import plan as run_plan
    from clustersim.money.plan import DEFAULT_DEADLINE_DAYS
    from clustersim.money.scaling import CHINCHILLA_TOKENS_PER_PARAM
    from clustersim.money.tables import plan_tables

    with progress_reporter(not as_json, "plan") as progress:
        result = run_plan(budget_usd, deadline_days=deadline_days or DEFAULT_DEADLINE_DAYS,
                          tokens_per_param=tokens_per_param or CHINCHILLA_TOKENS_PER_PARAM, gpu=gpu, gpus=gpus,
                          price=price, base=base, set=overrides, progress=progress)
    _finish(result, plan_tables(result), as_json=as_json, csv_path=csv_path, output=output,
            report_path=report_path, kind="plan")


@click.command()
@click.argument("model")
@click.option("--tokens", required=True, help="Fine-tuning tokens (e.g. 1e9, 500M, 2B).")
@click.option("--gpu", "gpu_types", multiple=True, help="Catalog GPU (repeat; default every catalog GPU).")
@click.option("--mode", "modes", multiple=True, type=click.Choice(["full-finetune", "lora", "qlora"]),
              help="Fine-tuning mode (repeat; default all three).")
@click.option("--max-gpus", type=click.IntRange(1, 1_000_000), default=1024, show_default=True,
              help="The largest GPU count tried on each GPU type.")
@click.option("--seq-len", type=click.IntRange(1), help="Tokens per sequence (default 4096, Llama 2 SFT).")
@click.option("--batch-seqs", type=click.IntRange(1), help="Sequences per step (default 64, Llama 2 SFT).")
@click.option("--lora-rank", type=click.IntRange(1), help="LoRA / QLoRA adapter rank (default 16).")
@click.option("--headroom", type=click.FloatRange(0.0, 0.5), help="Fraction of each GPU's memory left free "
              "(allocator fragmentation, CUDA context, NCCL buffers; default 0.1).")
@click.option("--price", help="One price (preset or USD per GPU-hour) for every GPU.")
@click.option("--base", type=click.Path(dir_okay=False, path_type=str),
              help="A scenario whose training recipe (seq_len, batch, precision, lora_rank) every point uses.")
@set_option
@json_option("{kind, model, rows: [{gpu, mode, min_gpus, memory_per_gpu_gib, days, cost_usd, ...}]}")
@output_option()
@_csv_option
@user_errors
def finetune(model: str, tokens: str, gpu_types: tuple[str, ...], modes: tuple[str, ...], max_gpus: int,
             seq_len: int | None, batch_seqs: int | None, lora_rank: int | None, headroom: float | None,
             price: str | None, base: str | None, overrides: tuple[str, ...], as_json: bool, output: str | None,
             csv_path: str | None) -> None:
    """The fewest GPUs of each catalog type that can fine-tune MODEL (full, LoRA, QLoRA), with days and dollars."""
    from clustersim.money import finetune as run_finetune
    from clustersim.money.finetune import DEFAULT_HEADROOM, FINETUNE_MODES
    from clustersim.money.tables import finetune_table

    sets = list(overrides)
    for key, value in (("training.seq_len", seq_len), ("training.global_batch_seqs", batch_seqs),
                       ("training.lora_rank", lora_rank)):
        if value is not None:
            sets.append(f"{key}={value}")
    result = run_finetune(model, tokens, gpus=list(gpu_types) or None, modes=list(modes) or FINETUNE_MODES,
                          max_gpus=max_gpus, price=price, base=base, set=sets,
                          headroom=DEFAULT_HEADROOM if headroom is None else headroom)
    _finish(result, finetune_table(result), as_json=as_json, csv_path=csv_path, output=output)


@click.command()
@scenario_arg
@set_option
@click.option("--discount", type=click.FloatRange(0.0, 1.0, max_open=True),
              help="Spot discount off on-demand (default: pricing.spot, else the catalog's spot/on-demand pair).")
@click.option("--spot-price", help="Spot price preset or USD per GPU-hour (instead of --discount).")
@click.option("--replicas", type=click.IntRange(2, 100_000), default=40, show_default=True,
              help="Replicas per simulated rate to start with (same seed for all: common random numbers); "
                   "doubled until the break-even's confidence interval is within --tolerance.")
@click.option("--tolerance", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.1, show_default=True,
              help="Stop adding replicas when the 95% interval of the break-even is within this fraction of it.")
@click.option("--max-replicas", type=click.IntRange(2, 100_000), default=320, show_default=True,
              help="Never simulate more replicas per rate than this.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed (default: the scenario's).")
@workers_option(256)
@json_option("the break-even")
@output_option()
@_csv_option
@user_errors
def spot(file: str, overrides: tuple[str, ...], discount: float | None, spot_price: str | None, replicas: int,
         tolerance: float, max_replicas: int, seed: int | None, workers: int | None, as_json: bool,
         output: str | None, csv_path: str | None) -> None:
    """The preemption rate at which spot stops being cheaper than on demand for FILE (simulated).

    A preempted node comes back after pricing.spot.return_hours (default 1 h: the mean
    spot-unavailable period in the AWS traces of Wu et al., NSDI 2024; catalog spot.yaml).
    """
    from clustersim.money import spot_breakeven
    from clustersim.money.tables import spot_tables

    with progress_reporter(not as_json, "spot") as progress:
        result = spot_breakeven(file, set=overrides, discount=discount, spot_price=spot_price, replicas=replicas,
                                tolerance=tolerance, max_replicas=max_replicas, seed=seed,
                                workers=workers or default_workers(), progress=progress)
    _finish(result, spot_tables(result), as_json=as_json, csv_path=csv_path, output=output)


#: Registered on the main group by :mod:`clustersim.cli` (in this order).
MONEY_COMMANDS = (dollars, costs, plan, finetune, spot)
