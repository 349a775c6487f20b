"""Doudi (兜底): the low-income safety net of a provincial civil-affairs department."""

__version__ = "0.1.0"
