-- Motor vehicles (公安交管) per owner on the latest vehicle list of the window: small cars and
-- trucks, and every kind (motorcycles, tricycles, tractors included).
WITH latest AS (
    SELECT max(v.period) AS period
    FROM feed_vehicle AS v
    CROSS JOIN run_period AS r
    WHERE v.period <= r.period AND v.period >= substr(CAST(r.window_start AS VARCHAR), 1, 7)
)
SELECT v.citizen_id,
       count(DISTINCT CASE WHEN v.vehicle_kind IN ('car', 'truck') THEN v.plate_no END) AS cars,
       count(DISTINCT v.plate_no) AS vehicles
FROM feed_vehicle AS v
JOIN latest AS l ON v.period = l.period
GROUP BY v.citizen_id
