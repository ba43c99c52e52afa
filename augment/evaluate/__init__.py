"""Measure whether a pipeline helps: train held-out benchmark models with and without augmented copies.

Typical use (what ``augment eval`` does)::

    from augment.evaluate import EvalConfig, run_evaluation, write_report

    cfg = EvalConfig(pipeline="pipelines/eda.yaml", train="data/train.tsv", train_sizes="500,2000",
                     copies=[4])                           # repeats="auto": sequential, until decided
    result = run_evaluation(cfg)
    write_report(result, "report/")      # report.json + report.html
    print(format_summary(result))

Modules, in import order: ``base`` (types every model shares), ``verdict`` (the paired t / Nadeau-Bengio rule,
sequential looks, power, equivalence), ``stats`` (metrics, bootstrap, variance split), ``data`` (loading through
``augment.io``, stratified subsets, folds, overlap), ``training``, ``image_model``/``text_models``/``custom``
(benchmark models), ``models`` (the registry), ``protocol`` (the loop), ``report`` (JSON and HTML).
"""

from .protocol import Augmenter, EvalConfig, EvalResult, FunctionAugmenter, PipelineAugmenter, run_evaluation
from .report import format_summary, write_report

__all__ = [
    "Augmenter",
    "EvalConfig",
    "EvalResult",
    "FunctionAugmenter",
    "PipelineAugmenter",
    "format_summary",
    "run_evaluation",
    "write_report",
]
