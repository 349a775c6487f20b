-- People paid from public funds (财政供养) on the latest payroll list of the window, retired staff
-- excluded.
WITH latest AS (
    SELECT max(e.period) AS period
    FROM feed_public_employee AS e
    CROSS JOIN run_period AS r
    WHERE e.period <= r.period AND e.period >= substr(CAST(r.window_start AS VARCHAR), 1, 7)
)
SELECT e.citizen_id, true AS public_employee
FROM feed_public_employee AS e
JOIN latest AS l ON e.period = l.period
WHERE e.staffing <> 'retired'
GROUP BY e.citizen_id
