"""Benchmarks of Etlify: the costs that grow with the data, each against a baseline."""
