-- Disability certificates (残联) per person with any event this period: the grade of the latest
-- certificate issued or changed in the period (NULL when only a cancellation), and the division
-- of the latest event that names one (the division of an unregistered subject).
WITH events AS (
    SELECT d.certificate_no, d.citizen_id, d.division_code, d.event, d.event_date, d.grade,
           min(d.row_no) AS row_no
    FROM feed_disability AS d
    CROSS JOIN run_period AS r
    WHERE d.event_date BETWEEN r.period_start AND r.period_end
    GROUP BY d.certificate_no, d.citizen_id, d.division_code, d.event, d.event_date, d.grade
), ordered AS (
    SELECT *,
           CAST(year(event_date) * 10000 + month(event_date) * 100 + day(event_date) AS BIGINT)
               * 10000000000 + row_no AS latest_key
    FROM events
)
SELECT citizen_id,
       CAST(arg_max(grade, latest_key) FILTER (WHERE event IN ('issue', 'change')) AS BIGINT)
           AS new_disability_grade,
       arg_max(division_code, latest_key) FILTER (WHERE division_code IS NOT NULL) AS division_code
FROM ordered
GROUP BY citizen_id
