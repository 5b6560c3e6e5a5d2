"""The analysis layer: measures a model and never trains it — shapes, costs, factorization, grid
reduction, branch structure, receptive fields (``rf``), feature maps and input sensitivity.

Layer rule: imports ``model`` and ``assets`` only (never ``training``, ``inference``, ``draw`` or
``explorers``), and no plotting or widget library; ``draw`` turns its results into pictures.
"""
