"""The state model: state variables, mutation metadata, the catalog of a set of collections and its validation.

Imports nothing else of ours (the bottom layer). Start with :meth:`reconciler.model.catalog.Catalog.load`.
"""
