"""Consilium's aggregation engine: pure Python (numpy, pandas, PyMC, ArviZ), no Django.

Anything under this package can be imported, tested and benchmarked with no database and
no broker; ``aggregation.selectors`` is the only bridge from the ORM to these objects.
"""
