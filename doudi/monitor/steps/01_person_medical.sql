-- Medical-insurance settlements (医保) per person, over the window (the 12 months ending with
-- the period) and over the period: out-of-pocket and total cost, inpatient stays, any
-- major-disease settlement, and the insured division (the highest code when settlements name
-- several: the same on every engine; it only routes an unregistered subject). A settlement
-- counts once: it is taken from the load of the month it happened in (the loader refuses
-- others, and a row that reappears in another month's file is left out here too), and within a
-- load the contract key makes rows unique.
SELECT m.citizen_id,
       CAST(sum(m.out_of_pocket) AS DECIMAL(18, 2)) AS medical_oop_12m,
       CAST(coalesce(sum(CASE WHEN m.settle_date >= r.period_start THEN m.out_of_pocket END), 0)
            AS DECIMAL(18, 2)) AS medical_oop_period,
       CAST(sum(m.total_cost) AS DECIMAL(18, 2)) AS medical_total_12m,
       count(*) FILTER (WHERE m.visit_type = 'inpatient') AS inpatient_12m,
       coalesce(bool_or(m.major_disease), false) AS major_disease_12m,
       max(m.insured_division) AS insured_division
FROM feed_medical AS m
CROSS JOIN run_period AS r
WHERE m.settle_date BETWEEN r.window_start AND r.period_end
  AND m.period = strftime(m.settle_date, '%Y-%m')
GROUP BY m.citizen_id
