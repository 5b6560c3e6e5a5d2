"""Receptive fields three ways: analytic (the arithmetic of each layer on the traced graph),
measured (where a unit's gradient is non-zero) and effective (how that gradient is spread).

>>> fields = analytic_receptive_fields(InceptionV2(num_classes=3), 299)
>>> fields["features.mixed_6.4"].size                     # (1135, 1135)
"""

from .analytic import ReceptiveFields, analytic_receptive_fields
from .effective import EffectiveField, effective_receptive_field
from .fields import Box, ReceptiveField, unit_at
from .measured import PathProbe, measure_boxes

__all__ = [
    "Box",
    "EffectiveField",
    "PathProbe",
    "ReceptiveField",
    "ReceptiveFields",
    "analytic_receptive_fields",
    "effective_receptive_field",
    "measure_boxes",
    "unit_at",
]
