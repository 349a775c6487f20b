"""Monthly monitoring: the feature catalogue, alert rules and their compiler, the engines
(DuckDB by default, Spark for scale-out), alert write-back and reports."""
