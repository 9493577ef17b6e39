"""lamm: LAMM (NeurIPS 2023) re-implemented — instruction data, an MLLM framework and the LAMM benchmark."""

__version__ = "0.1.0"
