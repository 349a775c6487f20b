"""Assistance programs as rules as code: dated parameters per division, program formulas,
assessment of one household or the whole registry, and what-if simulation."""
