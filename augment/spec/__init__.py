"""The pipeline spec: its schema, loading with precise errors, canonical dumping and hashing."""

from augment.spec.errors import SpecError
from augment.spec.load import dump_spec, load_spec, parse_spec, spec_hash
from augment.spec.schema import GroupStep, OpStep, PipelineSpec, Step

__all__ = ["SpecError", "PipelineSpec", "OpStep", "GroupStep", "Step", "load_spec", "parse_spec", "dump_spec", "spec_hash"]
