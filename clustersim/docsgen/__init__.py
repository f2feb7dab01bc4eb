"""The documentation's machinery: executable examples, generated reference pages, the validation page.

``python -m clustersim.docsgen`` (``make docs``) regenerates everything; ``tests/test_docs.py`` checks
that nothing committed under docs/ is stale. Not part of the public API.

* :mod:`clustersim.docsgen.examples` runs the ``$ clustersim ...`` and Python examples of docs/*.md.
* :mod:`clustersim.docsgen.reference` writes docs/reference/{scenario,cli,python-api}.md from the code.
* :mod:`clustersim.docsgen.validation` writes docs/validation.md and docs/img/parity.{svg,png}.
"""
