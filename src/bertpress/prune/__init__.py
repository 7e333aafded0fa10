"""Retraining-free structured pruning (Kwon et al. 2022): statistics, search, rearrangement, reconstruction."""

# Each kept layer keeps at least this share of the share of units the budget keeps overall (0.5 at
# 0.35 of the MACs: 17.5% of every layer's heads and of its neurons). Here, not in ``search``, so
# that the command line's help reads it without importing torch. See benchmarks/RESULTS.md, "Base size".
DEFAULT_LAYER_FLOOR = 0.5
