"""Build LAMM instruction-tuning data (C1-C4) from vision annotations: ``lamm data build RECIPE.yaml``."""
