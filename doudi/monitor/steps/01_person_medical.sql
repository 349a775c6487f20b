-- Medical-insurance settlements (医保) per person, over the window (the 12 months ending with
-- the period) and over the period: out-of-pocket and total cost, inpatient stays, any
-- major-disease settlement, and the insured division of the latest settlement that names one
-- (the division of an unregistered subject). A row delivered twice (identical in every column
-- of the contract) counts once.
WITH settlements AS (
    SELECT m.settlement_no, m.citizen_id, m.name, m.insured_division, m.settle_date, m.hospital,
           m.visit_type, m.total_cost, m.reimbursed, m.out_of_pocket, m.major_disease,
           min(m.row_no) AS row_no
    FROM feed_medical AS m
    CROSS JOIN run_period AS r
    WHERE m.settle_date BETWEEN r.window_start AND r.period_end
    GROUP BY m.settlement_no, m.citizen_id, m.name, m.insured_division, m.settle_date, m.hospital,
             m.visit_type, m.total_cost, m.reimbursed, m.out_of_pocket, m.major_disease
)
SELECT s.citizen_id,
       CAST(sum(s.out_of_pocket) AS DECIMAL(18, 2)) AS medical_oop_12m,
       CAST(coalesce(sum(CASE WHEN s.settle_date >= r.period_start THEN s.out_of_pocket END), 0)
            AS DECIMAL(18, 2)) AS medical_oop_period,
       CAST(sum(s.total_cost) AS DECIMAL(18, 2)) AS medical_total_12m,
       count(*) FILTER (WHERE s.visit_type = 'inpatient') AS inpatient_12m,
       coalesce(bool_or(s.major_disease), false) AS major_disease_12m,
       -- latest = last settle date, then last row of that month's file: the same on every engine
       arg_max(
           s.insured_division,
           CAST(year(s.settle_date) * 10000 + month(s.settle_date) * 100 + day(s.settle_date) AS BIGINT)
               * 10000000000 + s.row_no
       ) FILTER (WHERE s.insured_division IS NOT NULL) AS insured_division
FROM settlements AS s
CROSS JOIN run_period AS r
GROUP BY s.citizen_id
