-- Disability certificates (残联) per person with any event this period: the grade of the latest
-- certificate issued or changed in the period (NULL when only a cancellation), and the division
-- of the latest event that names one (the division of an unregistered subject). Events are
-- taken from the load of the month they happened in.
WITH events AS (
    SELECT d.citizen_id, d.division_code, d.event, d.grade,
           CAST(year(d.event_date) * 10000 + month(d.event_date) * 100 + day(d.event_date) AS BIGINT)
               * 10000000000 + d.row_no AS latest_key
    FROM feed_disability AS d
    CROSS JOIN run_period AS r
    WHERE d.event_date BETWEEN r.period_start AND r.period_end
      AND d.period = strftime(d.event_date, '%Y-%m')
)
SELECT citizen_id,
       CAST(arg_max(grade, latest_key) FILTER (WHERE event IN ('issue', 'change')) AS BIGINT)
           AS new_disability_grade,
       arg_max(division_code, latest_key) FILTER (WHERE division_code IS NOT NULL) AS division_code
FROM events
GROUP BY citizen_id
