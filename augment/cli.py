"""The ``augment`` command line: the only module that imports click.

Errors the user can fix (bad spec, missing input, a refused OUTPUT) print one line to stderr and exit non-zero;
results go to stdout as JSON so the tool composes in scripts and pipelines.
"""

from __future__ import annotations

if __name__ == "__main__":  # python -m augment.cli: Ctrl-C while the imports below run is one line
    from augment.interrupts import quiet_start

    quiet_start()

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import click

from augment._version import __version__


EXIT_OUTPUT_BUSY = 5  # `run`: OUTPUT is owned by another live run (retry when it has finished)
EXIT_ANNOTATIONS_FOUND = 6  # `run`: INPUT would be read as class folders but holds annotation files


def _interrupted(kind: type[BaseException]) -> tuple[str, int]:
    """The line and exit code of an interrupt: SIGTERM (``RunTerminated``) or Ctrl-C (KeyboardInterrupt)."""
    if kind.__name__ == "RunTerminated":
        return "terminated (SIGTERM); run the same command again", 143
    return "interrupted (Ctrl-C); run the same command again", 130


def _fail(message: str, code: int = 2) -> None:
    from augment import interrupts

    noted = interrupts.pending()
    if noted is not None and code not in (130, 143):  # an error the interrupt caused (see _interrupt_is_one_line)
        message, code = _interrupted(noted)
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


EXIT_MISSING_EXTRA = 7  # an optional dependency is missing: the message names the extra to install


def _needs(extra: str, feature: str) -> None:
    """Fail in one line, before any work, when ``feature``'s extra is not installed."""
    from augment.extras import MissingExtraError, require

    try:
        require(extra, feature)
    except MissingExtraError as exc:
        _fail(str(exc), EXIT_MISSING_EXTRA)


@contextlib.contextmanager
def _interrupt_is_one_line():
    """Ctrl-C (or SIGTERM in a command that turns it into ``RunTerminated``) outside a command's own handling: one
    line and 130 (143), not click's "Aborted!" with exit code 1.

    An interrupt can also come back as another exception: pybind11 turns a KeyboardInterrupt raised while a C
    extension initialises into ``ImportError: initialization failed`` (scipy's HiGHS, imported by the first
    verdict of an eval, printed its traceback). Once the CLI's handler has noted an interrupt
    (``augment.interrupts``), any exception, and any error ``_fail`` reports, is the interrupt's."""
    from augment import interrupts

    try:
        yield
    except KeyboardInterrupt as exc:
        _fail(*_interrupted(type(exc)))
    except Exception:
        noted = interrupts.pending()
        if noted is None:
            raise
        _fail(*_interrupted(noted))


class _Group(click.Group):
    """Turns a missing optional dependency met anywhere in a command into the one-line 'install the extra' error,
    and an interrupt the command does not handle itself into one line."""

    def make_context(self, *args, **kwargs):
        with _interrupt_is_one_line():  # --plugin imports the user's modules while the arguments are parsed
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        from augment import interrupts

        interrupts.clear()  # one noted by an earlier command of this process (main() called twice) is not ours
        with _interrupt_is_one_line():
            # the command and its arguments, not parsed yet (click keeps the command's name apart:
            # ``_protected_args`` from click 8.2, ``protected_args`` before)
            pending = [*(ctx.__dict__.get("_protected_args") or ctx.__dict__.get("protected_args") or ()), *ctx.args]
            if pending[:1] == ["run"]:
                _start_workers_early(pending[1:])
            return self._invoke(ctx)

    def _invoke(self, ctx):
        from augment.extras import MissingExtraError, extra_for_module, install_hint
        from augment.text.backtranslate import BackendUnavailableError

        try:
            return super().invoke(ctx)
        except MissingExtraError as exc:
            _fail(str(exc), EXIT_MISSING_EXTRA)
        except BackendUnavailableError as exc:  # a system backend a pipeline needs (Apertium): checked at compile
            _fail(str(exc), EXIT_MISSING_EXTRA)
        except ModuleNotFoundError as exc:
            extra = extra_for_module(exc.name)
            if extra is None:
                raise
            _fail(f"{exc.name} is not installed; it comes with the '{extra}' extra: {install_hint(extra)}",
                  EXIT_MISSING_EXTRA)


def _load(path: str, **overrides):
    from augment.compile.pipeline import Pipeline
    from augment.spec import SpecError, load_spec

    try:
        spec = load_spec(path)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if overrides:
            spec = spec.with_overrides(**overrides)
        return Pipeline(spec)  # checks what needs the op catalogue (the finishing ops' order)
    except SpecError as exc:
        _fail((exc if exc.source else SpecError(exc.issues, source=path)).render())


def _load_plugins(ctx, param, modules: tuple[str, ...]) -> None:
    """Installed plugins (entry points, $AUGMENT_PLUGINS) and --plugin modules, before the command reads a spec."""
    import os

    from augment.ops import plugins

    try:
        plugins.load_installed()
        plugins.load_modules(modules)
    except plugins.PluginError as exc:
        _fail(str(exc))
    if modules:  # processes this command starts (workers, service jobs) register the same modules
        known = os.environ.get(plugins.ENV_VAR, "").split()
        os.environ[plugins.ENV_VAR] = " ".join(dict.fromkeys([*known, *modules]))


def _plugin_option(fn):
    return click.option(
        "--plugin", "plugin_modules", multiple=True, metavar="MODULE", envvar="AUGMENT_PLUGINS", expose_value=False,
        is_eager=True, callback=_load_plugins,
        help="Import MODULE and register the augment ops it defines (repeatable; also $AUGMENT_PLUGINS).")(fn)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="augment")
def main() -> None:
    """Declarative data augmentation for images and text."""


def _start_workers_early(args: list[str]) -> None:
    """Start ``augment run``'s forkserver before this process imports the op catalogue and plugins (~1 s): the two
    then import on separate cores, and the workers can start as soon as the run has planned. It is read from the
    spec file's text alone; anything unusual (no such file, invalid YAML, --help, a dry run, the serial engine, an
    existing Dask cluster) leaves it to the run, which starts it later with the validated spec."""
    positional, options = _split_run_args(args)
    if not positional or {"--help", "-h", "--dry-run"} & options.keys():
        return
    scheduler = options.get("--scheduler")
    engine = options.get("--engine") or ("dask" if scheduler else "local")
    if engine not in ("local", "dask"):
        return
    from augment.run.forkserver import warm_up
    from augment.spec.text import parse_text, read_text

    try:
        if not Path(positional[0]).is_file():  # a pipe (<(...), /dev/stdin) can be read once: by the run
            return
        raw = parse_text(read_text(Path(positional[0])))
        if isinstance(raw, dict):
            warm_up(engine, raw, scheduler=scheduler)
    except Exception:  # noqa: BLE001 - only a head start: the run reads, validates and starts it again, and says why
        return


def _split_run_args(args: list[str]) -> tuple[list[str], dict[str, str | None]]:
    """``run``'s raw arguments as click will read them: positionals, and options with their values (the options
    that take one are known from the command's own parameters)."""
    takes_value = {name: not (p.is_flag or p.count) for p in run.params if isinstance(p, click.Option)
                   for name in (*p.opts, *p.secondary_opts)}
    positional: list[str] = []
    options: dict[str, str | None] = {}
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            positional.extend(rest)
            break
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            options[name] = value if eq else (next(rest, None) if takes_value.get(name) else None)
        else:
            positional.append(arg)
    return positional, options


@main.command()
@_plugin_option
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("--dump", is_flag=True, help="Print the canonical spec (defaults filled in).")
def validate(pipeline: str, dump: bool) -> None:
    """Check a pipeline spec; print its canonical hash, or every problem with its key."""
    pipe = _load(pipeline)
    if dump:
        from augment.spec import dump_spec

        click.echo(dump_spec(pipe.spec), nl=False)
    else:
        click.echo(json.dumps({"valid": True, "name": pipe.spec.name, "modality": pipe.modality, "hash": pipe.spec_hash}))


@main.command()
@_plugin_option
@click.option("--modality", type=click.Choice(["image", "text"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable listing.")
@click.option("--library", type=click.Choice(["albumentations", "torchvision", "all"]), default=None,
              help="List the library's transforms usable by name (op: albumentations.CLAHE) instead, and why the "
                   "others are not (all: both libraries).")
def ops(modality: str | None, as_json: bool, library: str | None) -> None:
    """List every op with its parameters, types, ranges and defaults (generated from the registry)."""
    from augment.ops.describe import describe_library, describe_ops, format_library, format_ops

    if library is not None:
        listing = describe_library(None if library == "all" else library)
        click.echo(json.dumps(listing, indent=2) if as_json else format_library(listing))
        return
    from augment.compile.batch import BATCHED_OPS

    listing = describe_ops(modality, batched=BATCHED_OPS)
    click.echo(json.dumps(listing, indent=2) if as_json else format_ops(listing))


def _engine_for(engine: str | None, scheduler: str | None) -> str:
    """--scheduler names a Dask scheduler, so it implies --engine dask; with another engine it is an error
    (it used to be ignored silently)."""
    if scheduler is None:
        return engine or "local"
    if engine not in (None, "dask"):
        _fail(f"--scheduler {scheduler} is a Dask scheduler address; it needs --engine dask, not --engine {engine}")
    return "dask"


@contextlib.contextmanager
def _terminate_like_interrupt():
    """SIGTERM (SLURM, Kubernetes, ``docker stop``) stops a run as Ctrl-C does: one line, exit 143, resumable.
    The previous handler is put back afterwards (``main`` may run inside someone else's process)."""
    import signal
    import threading

    from augment import interrupts
    from augment.run.errors import RunTerminated

    def handler(signum, frame):
        interrupts.note(RunTerminated)  # raised again at the next checkpoint if Python swallows this one
        raise RunTerminated()

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        interrupts.clear()  # raised already, or the work ended first: a later command in this process starts clean


@main.command()
@_plugin_option
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.argument("input", type=click.Path(path_type=Path))
@click.argument("output", metavar="OUTPUT")  # a folder or an fsspec URL (s3://bucket/prefix, memory://...)
@click.option("--copies", type=click.IntRange(1, 10000), default=None, help="Augmented copies per item (overrides the spec).")
@click.option("--include-originals", is_flag=True, help="Also copy each source item into OUTPUT.")
@click.option("--workers", type=click.IntRange(1, 512), default=None, help="Worker processes (default: all cores).")
@click.option("--engine", type=click.Choice(["local", "serial", "dask"]), default=None,
              help="local (default), serial, or dask (implied by --scheduler).")
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://host:port); implies --engine dask.")
@click.option("--scheduler-timeout", type=click.FloatRange(0, 3600, min_open=True), default=10.0, show_default=True,
              help="Seconds for the Dask scheduler to answer before the run stops.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None, help="Pipeline seed (overrides the spec).")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG/WebP output quality.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier run of another spec or seed in OUTPUT.")
@click.option("--strict", is_flag=True, help="Exit non-zero if any item failed.")
@click.option("--max-errors", type=click.IntRange(0), default=None, help="Exit non-zero if more items than this failed.")
@click.option("--text-column", default=None, help="Text column/field (CSV/TSV with header, JSONL).")
@click.option("--label-column", default=None, help="Label column/field (CSV/TSV with header, JSONL).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (the summary is still printed).")
@click.option("--output-format", type=click.Choice(["folder", "webdataset", "parquet"]), default="folder",
              show_default=True, help="Images: files mirroring INPUT, or tar (WebDataset) / Parquet shards.")
@click.option("--shard-size", type=click.IntRange(1, 10_000_000), default=1000, show_default=True,
              help="Samples per shard (whole sources: rounded up to a multiple of the outputs per source).")
@click.option("--format", "dataset_format", type=click.Choice(["voc", "yolo", "coco", "masks", "classification"]),
              default=None, help="Annotated images: the dataset format (default: detected from what the files hold); "
              "classification reads INPUT as class folders.")
@click.option("--keep-unchanged", is_flag=True, help="Write copies identical to their source or to another copy "
              "(by default they are drawn again, then dropped and counted).")
@click.option("--durable", is_flag=True, help="fsync every output and the manifest after each chunk, so what the "
              "manifest lists survives a power loss (slower; see docs/reliability.md).")
@click.option("--dry-run", is_flag=True, help="Print what INPUT holds (format, images, annotated images, objects "
              "per class, files ignored and why) and write nothing.")
def run(pipeline, input, output, copies, include_originals, workers, engine, scheduler, scheduler_timeout, seed, quality,
        overwrite, strict, max_errors, text_column, label_column, quiet, output_format="folder", shard_size=1000,
        dataset_format=None, keep_unchanged=False, durable=False, dry_run=False) -> None:
    """Expand the dataset INPUT into OUTPUT with PIPELINE, writing OUTPUT/manifest.jsonl.

    OUTPUT is a folder or an fsspec URL such as s3://bucket/prefix; storage options come from
    $AUGMENT_STORAGE_OPTIONS (JSON) and, for S3, $AWS_ENDPOINT_URL (see augment.io.store).
    """
    from augment.io.lock import OutputBusyError
    from augment.compile.import_guard import without_torch_helpers
    from augment.io.store import join_location, output_location
    from augment.run.errors import AnnotationsFound, RunTerminated
    from augment.run.expander import RunError, RunOptions, expand
    from augment.run.job import OutputWriteError

    engine = _engine_for(engine, scheduler)
    output = output_location(output)  # a Path, or the URL string
    pipe = _load(pipeline, copies=copies, seed=seed)
    if dry_run:
        _dry_run(pipe, input, output, dataset_format)
        return
    text_format = {k: v for k, v in {"text_column": text_column, "label_column": label_column}.items() if v}
    opts = RunOptions(
        input=input, output=output, include_originals=include_originals, workers=workers, engine=engine,
        scheduler=scheduler, quality=quality, overwrite=overwrite, text_format=text_format or None,
        output_format=output_format, shard_size=shard_size,
        scheduler_timeout=scheduler_timeout,
        dataset_format=dataset_format,
    )
    opts.keep_unchanged = keep_unchanged
    opts.durable = durable
    bar = None
    show_bar = not quiet and sys.stderr.isatty()

    def on_total(total: int) -> None:
        nonlocal bar
        if show_bar:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="item", file=sys.stderr, dynamic_ncols=True)

    try:
        with _terminate_like_interrupt(), without_torch_helpers():  # serial: no torch here, nothing left behind
            summary = expand(pipe, opts, progress=(lambda n: bar.update(n)) if show_bar else None, on_total=on_total)
    except OutputBusyError as exc:  # another live run owns OUTPUT: nothing was touched
        _fail(str(exc), EXIT_OUTPUT_BUSY)
    except AnnotationsFound as exc:  # class folders would lose annotation files: nothing was touched
        _fail(str(exc), EXIT_ANNOTATIONS_FOUND)
    except (RunError, OutputWriteError) as exc:
        _fail(str(exc), 1)
    except OSError as exc:  # the manifest, error log or run record could not be written (disk full, read-only)
        _fail(f"cannot write to {exc.filename or output}: {exc.strerror or exc}", 1)
    except RunTerminated:
        _fail("terminated (SIGTERM); run the same command again to resume", 143)
    except KeyboardInterrupt:
        _fail("interrupted; run the same command again to resume", 130)
    finally:
        if bar is not None:
            bar.close()
    click.echo(json.dumps(summary.as_dict()))
    for note in getattr(summary, "notes", ()):
        click.echo(f"note: {note}", err=True)
    if summary.errors and summary.outputs_in_manifest == 0:  # nothing usable came out of the run
        _fail(f"every item failed: {summary.errors} errors and no output "
              f"(see {join_location(output, 'errors.jsonl')})", 3)
    if (strict and summary.errors) or (max_errors is not None and summary.errors > max_errors):
        _fail(f"{summary.errors} items failed (see {join_location(output, 'errors.jsonl')})", 3)


def _dry_run(pipe, input: Path, output, dataset_format) -> None:
    """``augment run --dry-run``: what INPUT holds, as a run would read it; nothing is written."""
    if not input.exists():
        _fail(f"INPUT {input} does not exist", 1)
    if pipe.modality != "image" or not input.is_dir():
        click.echo(json.dumps({"root": str(input), "format": "text" if pipe.modality == "text" else "file",
                               "dry_run": True}))
        return
    from augment.io.annotations import describe_layout

    report = describe_layout(input, dataset_format, exclude=output if isinstance(output, Path) else None)
    click.echo(json.dumps({**report.as_dict(), "dry_run": True}, indent=2))
    if report.error:
        _fail(report.error, EXIT_ANNOTATIONS_FOUND if report.annotations_found else 1)


@main.command()
@_plugin_option
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("-n", "--count", type=click.IntRange(1, 100), default=11, show_default=True, help="Augmented versions.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None)
@click.option("--columns", type=click.IntRange(1, 20), default=4, show_default=True)
@click.option("--annotations", "annotations", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="IMAGE's annotations (VOC .xml, YOLO .txt, mask .png, COCO .json) to draw.")
def preview(pipeline, image, output, count, seed, columns, annotations=None) -> None:
    """Write a grid of augmented versions of IMAGE (the original first) to see what PIPELINE does."""
    from augment.preview import PreviewError, preview_file

    pipe = _load(pipeline, seed=seed)
    if pipe.modality != "image":
        _fail("preview works on image pipelines")
    try:
        grid = preview_file(pipe, image, count, columns, annotations=annotations)
    except PreviewError as exc:
        _fail(str(exc), 1)
    try:
        grid.save(output)
    except (OSError, ValueError) as exc:
        _fail(f"cannot write {output}: {getattr(exc, 'strerror', None) or exc}", 1)
    click.echo(json.dumps({"output": str(output), "versions": count}))


@main.command()
@_plugin_option
@click.argument("output_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("output_file")
@click.option("-o", "--to", "target", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the reproduced file (or text row) here.")
@click.option("--row", type=click.IntRange(0), default=None, help="Text datasets: the 0-based data row.")
@click.option("--copy", "copy_index", type=click.IntRange(0), default=None, help="Text datasets: the copy index.")
def replay(output_dir, output_file, target, row, copy_index) -> None:
    """Reproduce OUTPUT_FILE of a run in OUTPUT_DIR from its manifest record and check the bytes match."""
    from augment.replay import ReplayError, replay_output

    try:
        result = replay_output(output_dir, output_file, row, copy_index)
    except ReplayError as exc:
        _fail(str(exc).splitlines()[0], 1)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if target is not None:
        try:
            target.write_bytes(result.data)
            if result.annotation is not None:  # annotated runs: the annotation beside it (copy.jpg -> copy.xml)
                beside = target.with_suffix(result.annotation_suffix or ".ann")
                if beside == target:  # a mask with the image's own suffix: copy.png -> copy.mask.png, not over it
                    beside = target.with_name(f"{target.stem}.mask{target.suffix}")
                beside.write_bytes(result.annotation)
        except OSError as exc:
            _fail(f"cannot write {target}: {exc.strerror or exc}", 1)
    click.echo(json.dumps({"output": output_file, "identical": result.identical, "sha256": result.sha256,
                           "on_disk": result.on_disk}))
    if not result.identical:
        click.echo("error: the replayed bytes differ from the recorded sha256", err=True)
        sys.exit(4)
    if result.on_disk in ("differs", "missing", "outside OUTPUT"):
        what = {"missing": "is missing", "differs": "differs from its recorded sha256",
                "outside OUTPUT": "resolves outside OUTPUT (a symlink or a changed manifest); not read"}[result.on_disk]
        click.echo(f"error: {output_file} in OUTPUT {what} (changed or removed after the run)", err=True)
        sys.exit(4)


def _parse_model_options(pairs: tuple[str, ...]) -> dict:
    """``("lr=0.001", "max_epochs=60")`` -> ``{"lr": 0.001, "max_epochs": 60}``; values as YAML scalars."""
    import yaml

    options: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            _fail(f"--model-option {pair!r}: expected KEY=VALUE, e.g. max_epochs=60")
        if key in options:
            _fail(f"--model-option {key!r} given twice")
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)):
            _fail(f"--model-option {key}: expected a single value, got {raw!r}")
        options[key] = value
    return options


@main.command("eval")
@_plugin_option
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("--train", type=click.Path(exists=True, path_type=Path), required=True,
              help="Training data: an image folder, or a text dataset in any format `augment run` reads.")
@click.option("--test", type=click.Path(exists=True, path_type=Path), default=None,
              help="Held-out data; without it TRAIN is split once (stratified, seeded), or use --cv.")
@click.option("--text-column", default=None, help="Text column/field (CSV/TSV with header, JSONL).")
@click.option("--label-column", default=None, help="Label column/field (CSV/TSV with header, JSONL).")
@click.option("--strict", is_flag=True, help="Classes present in only one of train/test are an error.")
@click.option("--train-sizes", default="100,500,full", show_default=True, help="Comma-separated sizes or 'full'.")
@click.option("--copies", default="1,4", show_default=True, help="Comma-separated augmented copies per item.")
@click.option("--repeats", default="auto", show_default=True,
              help="Runs per size, or auto: add runs until the verdict is decided (sequential rule).")
@click.option("--max-repeats", type=click.IntRange(2, 1000), default=10, show_default=True,
              help="auto: most runs per size.")
@click.option("--time-budget", type=click.FloatRange(min=1), default=540, show_default=True,
              help="auto: seconds for the whole evaluation; no run starts that would not fit (then 'undecided').")
@click.option("--cv", type=click.IntRange(2, 100), default=None,
              help="Stratified K-fold cross-validation of TRAIN (no --test): every example is tested.")
@click.option("--cv-repeats", type=click.IntRange(1, 100), default=None,
              help="With --cv: at most this many repetitions (default 3; stops early once decided).")
@click.option("--alpha", type=click.FloatRange(0, 0.5, min_open=True, max_open=True), default=0.05,
              show_default=True, help="Error rate of the verdict rule.")
@click.option("--margin", type=click.FloatRange(0, 100, min_open=True, max_open=True), default=2.0,
              show_default=True, help="Equivalence margin in accuracy points: 'equivalent' means no effect "
                                      "larger than this.")
@click.option("--compare", default=None, metavar="LIST",
              help="Also run regularised arms (dropout,weight_decay,early_stopping), alone and with augmentation.")
@click.option("--model", default="auto", show_default=True,
              help="auto | cnn | ngram | textcnn | tfidf-logreg | module:function (bring your own). "
                   "`augment models` lists them with their options.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@click.option("--budget", type=click.Choice(["epochs", "steps"]), default="epochs", show_default=True,
              help="epochs: same epochs over the larger set (EDA paper); steps: same optimiser steps.")
@click.option("--model-option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="A built-in model's option, e.g. max_epochs=60 or image_size=64 (repeatable; `augment models` "
                   "lists every option with its default). Values are read as YAML scalars.")
@click.option("--threads", type=click.IntRange(1, 256), default=1, show_default=True,
              help="torch threads per training run (results stay deterministic for a given value).")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Seconds per call of a custom model (it runs in a child process; default 1800).")
@click.option("--jobs", type=click.IntRange(1, 1024), default=None,
              help="Fits trained at once in worker processes (default: every core). The numbers do not depend on it.")
@click.option("--resume", is_flag=True,
              help="Continue the evaluation in --out (after Ctrl-C, SIGTERM or the time budget) without training its "
                   "finished fits again.")
@click.option("--device", default="auto", show_default=True,
              help="Where torch models train: auto (a GPU when present, else cpu) | cpu | cuda | cuda:N | mps.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("eval-report"), show_default=True)
@click.option("--quiet", "-q", is_flag=True)
@click.option("--format", "dataset_format", type=click.Choice(["voc", "yolo", "coco", "masks"]), default=None,
              help="Annotated images: the dataset format of --train/--test (default: detected as `augment run` does).")
def evaluate(pipeline, train, test, text_column, label_column, strict, train_sizes, copies, repeats, max_repeats,
             time_budget, cv, cv_repeats, alpha, margin, compare, model, seed, budget, model_options, threads,
             timeout, out, quiet, dataset_format=None, jobs=None, resume=False, device="auto") -> None:
    """Measure whether PIPELINE helps a benchmark model; writes report.json and report.html to --out.

    Detection (VOC, YOLO, COCO) and mask datasets train a small detector or segmenter instead (mAP, mIoU).
    Models: see `augment models`. Exit status: 0 done (whatever the verdict), 1 the evaluation cannot run
    (unreadable data, a failing custom model), 2 usage or spec error, 130 interrupted (Ctrl-C), 143 terminated
    (SIGTERM). An interrupted evaluation still writes its report with what finished; --resume continues it.
    """
    started = _command_start()  # --time-budget counts from here: start-up, loading and augmenting are inside it
    _needs("eval", "augment eval")
    from pydantic import ValidationError

    from augment.evaluate import EvalConfig, format_summary, run_evaluation, write_report

    compiled = _load(pipeline)  # one-line spec errors before any data is read
    layouts = _annotated_layouts(train, test, dataset_format)
    if layouts is not None:
        _evaluate_annotated(compiled, layouts, dict(
            pipeline=pipeline, train=train, test=test, text_column=text_column, label_column=label_column,
            strict=strict, train_sizes=train_sizes, copies=copies, repeats=repeats, max_repeats=max_repeats,
            time_budget=time_budget, cv=cv, cv_repeats=cv_repeats, alpha=alpha, margin=margin, compare=compare,
            model=model, seed=seed, budget=budget, model_options=model_options, threads=threads, timeout=timeout,
            out=out, quiet=quiet, jobs=jobs, resume=resume, device=device), started)
        return
    try:
        config = EvalConfig(pipeline=pipeline, train=train, test=test, text_column=text_column,
                            label_column=label_column, strict=strict, train_sizes=train_sizes, copies=copies,
                            repeats=repeats, max_repeats=max_repeats,
                            time_budget=time_budget if repeats == "auto" else None, cv=cv,
                            cv_repeats=cv_repeats, alpha=alpha, margin=margin / 100.0, compare=compare or [],
                            model=model, seed=seed, budget=budget, out=out, quiet=quiet, timeout=timeout,
                            model_options=_parse_model_options(model_options), threads=threads, jobs=jobs,
                            resume=resume, device=device)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}".replace("Value error, ", "")
                        for e in exc.errors()))
    try:  # model and options checked now, not after the data is read and augmented
        from augment.evaluate.models import make_model

        from augment.evaluate.device import resolve_device

        make_model(config.model, compiled.modality, config.model_options, threads=config.threads,
                   device=resolve_device(config.device) if compiled.modality == "image" else "cpu",
                   time_budget=config.time_budget)
    except (ValueError, ImportError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    _evaluate_and_report(lambda: run_evaluation(config, progress=not quiet, started=started),
                         lambda result: write_report(result, out), format_summary, quiet, out)


def _command_start() -> float:
    """The ``time.perf_counter()`` value at which this process started (Linux: its start time in /proc, so the
    interpreter's start and the imports count too), else now. Users read ``--time-budget 180`` as "answers
    within 3 minutes of pressing Enter"."""
    now = time.perf_counter()
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - age if 0.0 <= age < 600.0 else now


def _evaluate_and_report(evaluate, write, format_summary, quiet: bool, out: Path | None) -> None:
    """Run an evaluation and write its report, SIGTERM acting as Ctrl-C throughout: a signal that lands outside
    the fit loop (the data being read, the statistics or the report after the last fit) stops with one line, and
    names the journal when fits are in it, since ``--resume`` then retrains none of them."""
    try:
        with _terminate_like_interrupt():
            result = evaluate()
            paths = write(result)
    except (ValueError, OSError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 1)
    except KeyboardInterrupt as exc:
        from augment.evaluate.loop import Journal

        sigterm = type(exc).__name__ == "RunTerminated"
        fits = Journal.count(Path(out) / "fits.jsonl") if out is not None else 0
        _fail(("terminated (SIGTERM)" if sigterm else "interrupted")
              + (f": {fits} finished fits are kept in {out / 'fits.jsonl'}; add --resume to the same command to "
                 "continue" if fits else ""), 143 if sigterm else 130)
    _finish_eval(result, paths, format_summary, quiet, out)


def _finish_eval(result, paths: dict, format_summary, quiet: bool, out: Path) -> None:
    """Print the summary and the report paths; an interrupted evaluation then exits 130 (Ctrl-C) or 143
    (SIGTERM), its partial report written."""
    if not quiet:
        click.echo(format_summary(result), err=True)
    click.echo(json.dumps({k: str(v) for k, v in paths.items()}))
    status = result.protocol.get("status")
    if status == "interrupted":
        by = result.protocol.get("interrupted_by")
        _fail(f"{'terminated (SIGTERM)' if by == 'SIGTERM' else 'interrupted'}: the report in {out} holds the fits "
              "that finished; add --resume to the same command to continue", 143 if by == "SIGTERM" else 130)


def _annotated_layouts(train: Path, test: Path | None, forced: str | None):
    """(train layout, test layout or None) when --train is an annotated dataset, else None (a class folder or
    text); the layouts are found as `augment run` finds them."""
    from augment.evaluate.annotated_protocol import TASKS, annotated_layout
    from augment.io.annotations import FormatError

    try:
        train_layout = annotated_layout(train, forced)
        if train_layout is None:
            return None
        test_layout = annotated_layout(test, forced) if test is not None else None
    except FormatError as exc:
        _fail(str(exc))
    if test is not None and test_layout is None:
        _fail(f"--test {test} is not an annotated dataset, but --train {train} is a {train_layout.format} dataset")
    tasks = TASKS[train_layout.format], TASKS[test_layout.format] if test_layout is not None else None
    if test_layout is not None and tasks[0] != tasks[1]:
        _fail(f"--test {test} is a {tasks[1]} dataset ({test_layout.format}) but --train {train} is a {tasks[0]} "
              f"dataset ({train_layout.format})")
    return train_layout, test_layout


def _evaluate_annotated(compiled, layouts, given: dict, started: float | None = None) -> None:
    """`augment eval` on a detection or segmentation dataset (augment.evaluate.annotated_protocol)."""
    from pydantic import ValidationError

    from augment.evaluate import EvalConfig
    from augment.evaluate.annotated_protocol import (TASKS, make_annotated_model, run_annotated_evaluation,
                                                     unsupported_options)
    from augment.evaluate.annotated_report import format_annotated_summary, write_annotated_report

    problem = unsupported_options(given)
    if problem is not None:
        _fail(problem)
    ctx = click.get_current_context()
    defaults = {}  # one image set and one copy unless asked: a detector's run takes minutes, not seconds
    for key, value in (("train_sizes", "full"), ("copies", "1")):
        if ctx.get_parameter_source(key) == click.core.ParameterSource.DEFAULT:
            defaults[key] = value
    g = {**given, **defaults}
    try:
        config = EvalConfig(pipeline=g["pipeline"], train=g["train"], test=g["test"], strict=g["strict"],
                            train_sizes=g["train_sizes"], copies=g["copies"], repeats=g["repeats"],
                            max_repeats=g["max_repeats"],
                            time_budget=g["time_budget"] if g["repeats"] == "auto" else None, alpha=g["alpha"],
                            margin=g["margin"] / 100.0, model=g["model"], seed=g["seed"], out=g["out"],
                            quiet=g["quiet"], model_options=_parse_model_options(g["model_options"]),
                            threads=g["threads"], timeout=g["timeout"], jobs=g["jobs"], resume=g["resume"],
                            device=g["device"])
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}".replace("Value error, ", "")
                        for e in exc.errors()))
    if compiled.modality != "image":
        _fail(f"{config.train} is an annotated image dataset; the pipeline is for {compiled.modality}")
    try:
        compiled.check_moves_annotations()
        compiled.check_writes_images()
        make_annotated_model(config.model, TASKS[layouts[0].format], config.model_options, config.threads)
    except ValueError as exc:
        _fail(str(exc).splitlines()[0])
    _evaluate_and_report(lambda: run_annotated_evaluation(config, layouts[0], layouts[1], progress=not config.quiet,
                                                          pipe=compiled, started=started),
                         lambda result: write_annotated_report(result, config.out), format_annotated_summary,
                         config.quiet, config.out)


@main.command()
@_plugin_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback requires --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0: a free port.")
@click.option("--token", envvar="AUGMENT_TOKEN", default=None,
              help="Require 'Authorization: Bearer TOKEN' on every request (default: $AUGMENT_TOKEN).")
@click.option("--data-root", "data_roots", multiple=True, metavar="[NAME=]PATH",
              help="A folder whose datasets clients may read, addressed as NAME/path (repeatable).")
@click.option("--jobs-root", type=click.Path(file_okay=False, path_type=Path), default=Path("augment-jobs"),
              show_default=True, help="Where jobs write their outputs and the job database.")
@click.option("--max-request-mb", type=click.FloatRange(0.01, 4096), default=32, show_default=True)
@click.option("--max-pixels", type=click.IntRange(1), default=16_000_000, show_default=True,
              help="Largest image (width x height) /v1/augment accepts.")
@click.option("--max-batch", type=click.IntRange(1, 10000), default=64, show_default=True,
              help="Most items in one /v1/augment request.")
@click.option("--max-jobs", type=click.IntRange(1, 64), default=2, show_default=True, help="Jobs running at once.")
@click.option("--max-search-budget", default="1h", show_default=True,
              help="A search job's time budget: its default and its most (e.g. 30m).")
def serve(host, port, token, data_roots, jobs_root, max_request_mb, max_pixels, max_batch, max_jobs,
          max_search_budget) -> None:
    """Run the HTTP API and the studio (a pipeline designer in the browser) until interrupted."""
    _needs("serve", "augment serve")
    from augment.serve import Limits, ServeConfig, ServeConfigError
    from augment.serve import serve as run_server
    from augment.serve.config import parse_data_roots

    try:
        limits = Limits(max_request_bytes=int(max_request_mb * 2**20), max_pixels=max_pixels, max_items=max_batch,
                        max_outputs=max(max_batch, 4 * max_batch), max_running_jobs=max_jobs,
                        max_search_seconds=_parse_duration(max_search_budget, "--max-search-budget"))
        config = ServeConfig(host=host, port=port, token=token or None, data_roots=parse_data_roots(data_roots),
                             jobs_root=jobs_root.resolve(), limits=limits)
    except ServeConfigError as exc:
        _fail(str(exc))

    def listening(url: str) -> None:
        click.echo(json.dumps({"url": url, "studio": url + "/", "docs": url + "/docs",
                               "data_roots": sorted(config.data_roots), "jobs_root": str(config.jobs_root)}))

    try:
        run_server(config, on_listening=listening)
    except ServeConfigError as exc:  # e.g. a corrupt jobs.sqlite3: one line naming the file and what to do
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)


@main.command("models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable listing.")
def models(as_json: bool) -> None:
    """List the built-in benchmark models of `augment eval` with their options, defaults and use."""
    from augment.evaluate.models import describe_models, format_models

    from augment.evaluate.annotated_protocol import describe_annotated_models

    listing = describe_models() + describe_annotated_models()
    click.echo(json.dumps(listing, indent=2, default=str) if as_json else format_models(listing), nl=not as_json)



def _parse_duration(text: str, flag: str = "--budget") -> float:
    """``30m``, ``90s``, ``1.5h`` or plain seconds -> seconds."""
    raw = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(raw[-1:], None)
    number = raw[:-1] if scale else raw
    try:
        value = float(number) * (scale or 1)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        _fail(f"{flag} {text!r}: expected a positive duration such as 90s, 30m or 1h")
    return value


@main.command("search")
@_plugin_option
@click.option("--train", type=click.Path(exists=True, path_type=Path), required=True,
              help="Training data (image folder or text dataset): the search reads only this.")
@click.option("--test", type=click.Path(exists=True, path_type=Path), default=None,
              help="Untouched test data, read once at the end; without it a stratified outer fold of TRAIN is "
                   "held out before the search starts (written to OUT/data/test).")
@click.option("--space", "space_path", type=click.Path(dir_okay=False), required=True,
              help="Search space file (see pipelines/spaces/).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: best.yaml, leaderboard.json, report.html, trials.jsonl (rerun to resume).")
@click.option("--budget", default=None, help="Wall-clock limit of the search, e.g. 30m (the final test "
                                             "measurement comes on top). Default: no limit.")
@click.option("--model", default="auto", show_default=True,
              help="auto | cnn | ngram | textcnn | tfidf-logreg | module:function, as for `augment eval`.")
@click.option("--model-option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="A built-in model's option (repeatable), as for `augment eval`.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@click.option("--folds", type=click.IntRange(2, 20), default=3, show_default=True,
              help="Cross-validation folds of the training data per evaluation.")
@click.option("--rungs", type=click.IntRange(1, 6), default=3, show_default=True,
              help="Successive-halving rungs (rung 0 cheap; later rungs more CV repetitions).")
@click.option("--eta", type=click.IntRange(2, 10), default=3, show_default=True,
              help="Keep the best 1/ETA of the candidates after each rung.")
@click.option("--final-repeats", type=click.IntRange(2, 100), default=5, show_default=True,
              help="Paired runs of the final measurement on the test set.")
@click.option("--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Outer hold-out fraction when no --test is given.")
@click.option("--text-column", default=None, help="Text column/field (CSV/TSV with header, JSONL).")
@click.option("--label-column", default=None, help="Label column/field (CSV/TSV with header, JSONL).")
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Seconds per custom-model call.")
@click.option("--quiet", "-q", is_flag=True)
def search(train, test, space_path, out, budget, model, model_options, seed, folds, rungs, eta, final_repeats,
           test_fraction, text_column, label_column, timeout, quiet) -> None:
    """Search a space of pipelines for the one that helps TRAIN most, then measure it once on unseen data.

    Candidates are compared on cross-validation folds of the training data only (successive halving: cheap
    first rung, more repeats for survivors); the winner, the baseline and the best preset are measured once on
    --test (or an outer fold held out first). Rerun the same command to resume a killed search.
    Exit status: 0 done, 1 the search cannot run or continue (unreadable data, a failing model, OUT holds a
    different search), 2 usage or space error, 130 interrupted, 143 terminated by SIGTERM (rerun to resume).
    """
    _needs("eval", "augment search")
    from augment.search.search import SearchConfig, SearchError, run_search
    from augment.search.space import load_space
    from augment.spec import SpecError

    seconds = _parse_duration(budget) if budget is not None else None
    try:
        space = load_space(space_path)
    except SpecError as exc:
        _fail(exc.render())
    options = _parse_model_options(model_options)
    try:
        from augment.evaluate.models import make_model

        make_model(model, space.modality, options)
    except (ValueError, ImportError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    config = SearchConfig(train=train, test=test, space=Path(space_path), out=out, budget=seconds, model=model,
                          model_options=options, seed=seed, folds=folds, rungs=rungs, eta=eta,
                          final_repeats=final_repeats, test_fraction=test_fraction, text_column=text_column,
                          label_column=label_column, timeout=timeout, quiet=quiet)
    try:
        with _terminate_like_interrupt():
            result = run_search(config, space)
    except SearchError as exc:
        _fail(str(exc), 1)
    except (ValueError, OSError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 1)
    except KeyboardInterrupt as exc:
        by = "terminated (SIGTERM)" if type(exc).__name__ == "RunTerminated" else "interrupted"
        _fail(f"{by}; rerun the same command to resume from {out / 'trials.jsonl'}",
              143 if type(exc).__name__ == "RunTerminated" else 130)
    summary = {"out": str(out), "best": str(out / "best.yaml"), "leaderboard": str(out / "leaderboard.json"),
               "report": str(out / "report.html"), "stopped": result.stopped,
               "winner": result.winner["candidate"] if result.winner else None,
               "test": {k: {x: v[x] for x in ("candidate", "gain", "ci", "verdict", "mde")}
                        for k, v in result.final.items()}}
    if not quiet and result.final.get("winner"):
        click.echo(f"winner {summary['winner']} on the test set: {result.final['winner']['sentence']}", err=True)
    click.echo(json.dumps(summary))

if __name__ == "__main__":  # pragma: no cover
    from augment.interrupts import ready

    ready()
    try:
        main()
    finally:
        # Under `python -m`, CPython exits by SIGINT (-2), whatever exit code we chose, once a KeyboardInterrupt
        # has ended a string exec/eval (dataclasses, namedtuple: an import Ctrl-C lands in), even one we caught:
        # run_eval_code_obj sets a flag that Py_RunMain checks. The next string eval resets the flag (CI: exit -2
        # after the one-line "interrupted" error, about once in a hundred Ctrl-Cs).
        exec("None")


__all__ = ["main", "validate", "ops", "run", "preview", "replay", "evaluate"]
