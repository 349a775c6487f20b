-- Buildings (不动产) owned by a person on the latest real-estate list of the window, one row per
-- person and certificate: residential, or commercial / office / industrial.
WITH latest AS (
    SELECT max(e.period) AS period
    FROM feed_real_estate AS e
    CROSS JOIN run_period AS r
    WHERE e.period <= r.period AND e.period >= substr(CAST(r.window_start AS VARCHAR), 1, 7)
)
SELECT e.citizen_id, e.certificate_no,
       bool_or(e.use = 'residential') AS residential,
       bool_or(e.use IN ('commercial', 'office', 'industrial')) AS commercial
FROM feed_real_estate AS e
JOIN latest AS l ON e.period = l.period
GROUP BY e.citizen_id, e.certificate_no
