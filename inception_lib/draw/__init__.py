"""The drawing layer: figures (matplotlib), images (PIL) and HTML for the analysis, training and
inference layers' results, so that computing and drawing live in different files.

Layer rule: may import every layer below it (``model``, ``assets``, ``analysis``, ``training``,
``inference``), never ``explorers`` or ``ipywidgets``.
"""
