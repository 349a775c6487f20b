-- Pensions (人社) per person from the latest pension list of the window (the newest period up to
-- the run's): the monthly amount summed over the person's schemes.
WITH latest AS (
    SELECT max(p.period) AS period
    FROM feed_pension AS p
    CROSS JOIN run_period AS r
    WHERE p.period <= r.period AND p.period >= substr(CAST(r.window_start AS VARCHAR), 1, 7)
)
SELECT p.citizen_id, CAST(sum(p.monthly_amount) AS DECIMAL(18, 2)) AS pension_monthly
FROM feed_pension AS p
JOIN latest AS l ON p.period = l.period
GROUP BY p.citizen_id
