"""The inference layer: the CPU fast path (BatchNorm folding, channels-last, bfloat16, compilation)
and the timing that measures it.

Layer rule: imports ``model`` only, and no plotting or widget library, so a service that runs the
fast path stays headless.
"""
