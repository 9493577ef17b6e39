"""The official LAMM file formats. Every other part reads and writes LAMM files through here."""

from lamm.formats.answers import read_answers, write_official_answers
from lamm.formats.benchmark import BenchRecord, load_benchmark, media_file
from lamm.formats.errors import FormatError
from lamm.formats.instruct import InstructSample, read_instruct, write_instruct
from lamm.formats.jsonio import JsonlAppender, iter_jsonl, read_json_array, write_json_official
from lamm.formats.media import check_image, check_points, load_npy_points
from lamm.formats.paths import data_root, resolve_media

__all__ = [
    "BenchRecord", "FormatError", "InstructSample", "JsonlAppender", "check_image", "check_points",
    "data_root", "iter_jsonl", "load_benchmark", "load_npy_points", "media_file", "read_answers",
    "read_instruct", "read_json_array", "resolve_media", "write_instruct",
    "write_json_official", "write_official_answers",
]  # fmt: skip
