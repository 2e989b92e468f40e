"""Training data pipelines and training loops (used by ``stampauth train``)."""
