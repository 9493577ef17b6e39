"""The LAMM protocol as data: prompt strings, the benchmark dataset table, task system messages."""

from lamm.protocol.datasets import DATASETS, DatasetSpec, find_dataset
from lamm.protocol.prompts import prompt, prompts

__all__ = ["DATASETS", "DatasetSpec", "find_dataset", "prompt", "prompts"]
