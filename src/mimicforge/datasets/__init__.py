"""Isaac Lab Mimic HDF5 datasets: read annotated sources, write generated demos crash-safely, merge, check."""

from mimicforge.datasets.inspect import format_summary, summarize
from mimicforge.datasets.merge import MergeResult, merge_datasets
from mimicforge.datasets.reader import (
    DatagenInfo,
    DatasetReader,
    Demo,
    SourceDataset,
    load_source_dataset,
    signal_order,
    subtask_boundaries,
)
from mimicforge.datasets.validate import validate
from mimicforge.datasets.writer import DatasetWriter

__all__ = [
    "DatagenInfo",
    "DatasetReader",
    "DatasetWriter",
    "Demo",
    "MergeResult",
    "SourceDataset",
    "format_summary",
    "load_source_dataset",
    "merge_datasets",
    "signal_order",
    "subtask_boundaries",
    "summarize",
    "validate",
]
