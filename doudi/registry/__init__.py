"""The registry of low-income households: households, persons, incomes, property and
categories with history; roster import and export; the synthetic province."""
