"""The ``doudi`` command line: one module per command group, thin adapters over services."""
