-- Market entities (市场监管) led by a person on the latest business list of the window: active
-- companies, individual businesses and cooperatives, one row per person and entity.
WITH latest AS (
    SELECT max(b.period) AS period
    FROM feed_business AS b
    CROSS JOIN run_period AS r
    WHERE b.period <= r.period AND b.period >= substr(CAST(r.window_start AS VARCHAR), 1, 7)
)
SELECT b.citizen_id, b.credit_code, CAST(max(b.registered_capital) AS DECIMAL(18, 2)) AS registered_capital
FROM feed_business AS b
JOIN latest AS l ON b.period = l.period
WHERE b.status = 'active' AND b.entity_kind IN ('company', 'individual', 'cooperative')
GROUP BY b.citizen_id, b.credit_code
