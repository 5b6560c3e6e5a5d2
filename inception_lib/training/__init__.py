"""The training layer: presets, data, losses, the loop (one process or many under ``torchrun``),
evaluation, checkpoints and the metrics log.

Layer rule: imports ``model`` and ``assets`` only (never ``analysis``, ``draw`` or ``explorers``),
and no plotting or widget library, so ``python -m inception_lib train`` stays headless.
"""
