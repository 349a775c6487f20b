-- Medical-insurance settlements (医保) per person, over the window (the 12 months ending with
-- the period) and over the period: out-of-pocket and total cost, inpatient stays, any
-- major-disease settlement, and the insured division of the latest settlement that names one
-- (the division of an unregistered subject). A settlement counts once: it is taken from the
-- load of the month it happened in (a row that reappears in another month's file is left out
-- there), and within a load the contract key makes rows unique.
SELECT m.citizen_id,
       CAST(sum(m.out_of_pocket) AS DECIMAL(18, 2)) AS medical_oop_12m,
       CAST(coalesce(sum(CASE WHEN m.settle_date >= r.period_start THEN m.out_of_pocket END), 0)
            AS DECIMAL(18, 2)) AS medical_oop_period,
       CAST(sum(m.total_cost) AS DECIMAL(18, 2)) AS medical_total_12m,
       count(*) FILTER (WHERE m.visit_type = 'inpatient') AS inpatient_12m,
       coalesce(bool_or(m.major_disease), false) AS major_disease_12m,
       -- latest = last settle date, then last row of that month's file: the same on every engine
       arg_max(
           m.insured_division,
           CAST(year(m.settle_date) * 10000 + month(m.settle_date) * 100 + day(m.settle_date) AS BIGINT)
               * 10000000000 + m.row_no
       ) FILTER (WHERE m.insured_division IS NOT NULL) AS insured_division
FROM feed_medical AS m
CROSS JOIN run_period AS r
WHERE m.settle_date BETWEEN r.window_start AND r.period_end
  AND m.period = strftime(m.settle_date, '%Y-%m')
GROUP BY m.citizen_id
