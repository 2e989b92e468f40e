"""Synthetic training data: document pages with exact ground truth, stamps and signatures."""
