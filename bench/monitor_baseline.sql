-- The hand-written baseline of the monitoring benchmark (bench/bench_monitor.py): ONE DuckDB
-- query that computes the alerts of the shipped rules for one month straight from the same
-- Parquet files the engine reads (the registry snapshot and the active feed loads), written the
-- way someone would write it for this rule set alone: only the figures the rules need, no
-- feature catalogue, no generated SQL, no evidence. Its output — (rule_id, subject_key,
-- event_key) — must equal the engine's candidates; the benchmark checks that before timing.
--
-- Parameters: $persons, $households (one path each), $medical … $public_employee (lists of
-- paths), $period ('YYYY-MM'), $period_start, $period_end, $window_start (dates).
WITH
rp AS (
    SELECT CAST($period_start AS DATE) AS ps, CAST($period_end AS DATE) AS pe,
           CAST($window_start AS DATE) AS ws, CAST($period AS VARCHAR) AS run_period,
           strftime(CAST($window_start AS DATE), '%Y-%m') AS wp
),
hh AS (SELECT * FROM read_parquet($households)),
pp AS (
    SELECT p.*,
           row_number() OVER (PARTITION BY p.household_id ORDER BY p.relation <> 'head', p.person_id) AS member_order,
           row_number() OVER (PARTITION BY p.household_id
                              ORDER BY p.monthly_income DESC, p.relation <> 'head', p.person_id) AS income_order,
           year(rp.pe) - year(p.birth_date)
               - CASE WHEN month(rp.pe) * 100 + day(rp.pe) < month(p.birth_date) * 100 + day(p.birth_date)
                      THEN 1 ELSE 0 END AS age,
           year(rp.ps - 1) - year(p.birth_date)
               - CASE WHEN month(rp.ps - 1) * 100 + day(rp.ps - 1) < month(p.birth_date) * 100 + day(p.birth_date)
                      THEN 1 ELSE 0 END AS previous_age
    FROM read_parquet($persons) p, rp
),
-- per person, from the feeds
med AS (
    SELECT citizen_id, sum(out_of_pocket) AS oop12,
           coalesce(sum(out_of_pocket) FILTER (WHERE settle_date >= rp.ps), 0) AS oop_month,
           coalesce(bool_or(major_disease), false) AS major
    FROM read_parquet($medical), rp
    WHERE settle_date BETWEEN rp.ws AND rp.pe AND period = strftime(settle_date, '%Y-%m')
    GROUP BY citizen_id
),
dis AS (
    SELECT citizen_id,
           arg_max(grade, (event_date, row_no)) FILTER (WHERE event IN ('issue', 'change')) IN (1, 2) AS severe
    FROM read_parquet($disability), rp
    WHERE event_date BETWEEN rp.ps AND rp.pe AND period = strftime(event_date, '%Y-%m')
    GROUP BY citizen_id
),
dth AS (
    SELECT citizen_id, min(death_date) AS death_date
    FROM read_parquet($death), rp WHERE death_date BETWEEN rp.ws AND rp.pe GROUP BY citizen_id
),
mov AS (
    SELECT DISTINCT citizen_id FROM read_parquet($hukou_move), rp
    WHERE move_date BETWEEN rp.ps AND rp.pe AND direction = 'out_of_province'
),
une AS (
    SELECT citizen_id FROM read_parquet($unemployment), rp
    WHERE event_date BETWEEN rp.ps AND rp.pe
    GROUP BY citizen_id
    HAVING max(event_date) FILTER (WHERE event = 'register') IS NOT NULL
       AND coalesce(max(event_date) FILTER (WHERE event = 'end') < max(event_date) FILTER (WHERE event = 'register'), true)
),
pen AS (
    SELECT citizen_id, sum(monthly_amount) AS pension FROM read_parquet($pension)
    WHERE period = (SELECT max(period) FROM read_parquet($pension), rp WHERE period BETWEEN rp.wp AND rp.run_period)
    GROUP BY citizen_id
),
dsr AS (
    SELECT citizen_id, sum(loss_amount) AS loss, bool_or(house_damage IN ('severe', 'collapsed')) AS collapsed
    FROM read_parquet($disaster), rp
    WHERE disaster_date BETWEEN rp.ps AND rp.pe AND period = strftime(disaster_date, '%Y-%m')
    GROUP BY citizen_id
),
sch AS (
    SELECT DISTINCT citizen_id FROM read_parquet($school), rp
    WHERE enrol_date BETWEEN rp.ps AND rp.pe AND period = strftime(enrol_date, '%Y-%m')
      AND stage IN ('high_school', 'vocational', 'college')
),
veh AS (
    SELECT citizen_id, count(DISTINCT plate_no) AS cars FROM read_parquet($vehicle)
    WHERE period = (SELECT max(period) FROM read_parquet($vehicle), rp WHERE period BETWEEN rp.wp AND rp.run_period)
      AND vehicle_kind IN ('car', 'truck')
    GROUP BY citizen_id
),
bus AS (
    SELECT citizen_id, credit_code, max(registered_capital) AS capital FROM read_parquet($business)
    WHERE period = (SELECT max(period) FROM read_parquet($business), rp WHERE period BETWEEN rp.wp AND rp.run_period)
      AND status = 'active' AND entity_kind IN ('company', 'individual', 'cooperative')
    GROUP BY citizen_id, credit_code
),
est AS (
    SELECT citizen_id, certificate_no, bool_or(use = 'residential') AS residential,
           bool_or(use IN ('commercial', 'office', 'industrial')) AS commercial
    FROM read_parquet($real_estate)
    WHERE period = (SELECT max(period) FROM read_parquet($real_estate), rp WHERE period BETWEEN rp.wp AND rp.run_period)
    GROUP BY citizen_id, certificate_no
),
pub AS (
    SELECT DISTINCT citizen_id FROM read_parquet($public_employee)
    WHERE period = (SELECT max(period) FROM read_parquet($public_employee), rp WHERE period BETWEEN rp.wp AND rp.run_period)
      AND staffing <> 'retired'
),
-- registered persons with their facts
m AS (
    SELECT pp.*, h.in_dibao, h.in_tekun, h.in_marginal, h.member_count, h.hh_income_monthly, h.dibao_standard,
           h.marginal_line,
           12 * (year(rp.pe) - year(h.category_start)) + month(rp.pe) - month(h.category_start) AS category_months,
           pp.monthly_income > 0 AS earner,
           pp.monthly_income > 0 AND pp.income_order = 1 AS main_earner,
           pp.age BETWEEN 18 AND 59 AND coalesce(pp.disability_grade NOT IN (1, 2), true)
               AND coalesce(pp.schooling, 'none') = 'none'
               AND coalesce(pp.employment, '') NOT IN ('student', 'unable') AS able,
           coalesce(med.oop12, 0) AS oop12, coalesce(med.oop_month, 0) AS oop_month,
           coalesce(med.major, false) AS major, coalesce(dis.severe, false) AS severe,
           dth.death_date, coalesce(dth.death_date >= rp.ps, false) AS died_month,
           mov.citizen_id IS NOT NULL AS moved, une.citizen_id IS NOT NULL AS unemployed,
           pen.pension, dsr.loss, coalesce(dsr.collapsed, false) AS collapsed,
           sch.citizen_id IS NOT NULL AS enrolled, coalesce(veh.cars, 0) AS cars,
           pub.citizen_id IS NOT NULL AS public_employee
    FROM pp JOIN hh h ON h.household_id = pp.household_id CROSS JOIN rp
    LEFT JOIN med ON med.citizen_id = pp.citizen_id LEFT JOIN dis ON dis.citizen_id = pp.citizen_id
    LEFT JOIN dth ON dth.citizen_id = pp.citizen_id LEFT JOIN mov ON mov.citizen_id = pp.citizen_id
    LEFT JOIN une ON une.citizen_id = pp.citizen_id LEFT JOIN pen ON pen.citizen_id = pp.citizen_id
    LEFT JOIN dsr ON dsr.citizen_id = pp.citizen_id LEFT JOIN sch ON sch.citizen_id = pp.citizen_id
    LEFT JOIN veh ON veh.citizen_id = pp.citizen_id LEFT JOIN pub ON pub.citizen_id = pp.citizen_id
),
-- one row per registered household, taken on its first member
hx AS (
    SELECT household_id,
           count(*) FILTER (WHERE earner) AS earners,
           bool_or(able) AS able,
           sum(oop12) AS oop12,
           bool_or(main_earner AND died_month) AS earner_died,
           count(*) FILTER (WHERE earner) = 1 AND bool_or(earner AND unemployed) AS only_earner_unemployed,
           coalesce(sum(pension), 0) AS pension,
           coalesce(sum(loss), 0) AS loss,
           sum(cars) AS cars,
           count(*) FILTER (WHERE public_employee) AS public_employees
    FROM m GROUP BY household_id
),
hbus AS (
    SELECT household_id, count(*) AS n, sum(capital) AS capital
    FROM (SELECT m.household_id, bus.credit_code, max(bus.capital) AS capital
          FROM m JOIN bus ON bus.citizen_id = m.citizen_id GROUP BY 1, 2)
    GROUP BY household_id
),
hest AS (
    SELECT household_id, count(*) FILTER (WHERE residential) AS residences,
           count(*) FILTER (WHERE commercial) AS commercial
    FROM (SELECT m.household_id, est.certificate_no, bool_or(est.residential) AS residential,
                 bool_or(est.commercial) AS commercial
          FROM m JOIN est ON est.citizen_id = m.citizen_id GROUP BY 1, 2)
    GROUP BY household_id
),
h AS (
    SELECT m.*, hx.earners, hx.able AS hh_able, hx.oop12 AS hh_oop12, hx.earner_died,
           hx.only_earner_unemployed, hx.pension AS hh_pension, hx.loss AS hh_loss, hx.cars AS hh_cars,
           hx.public_employees, coalesce(hbus.n, 0) AS businesses, coalesce(hbus.capital, 0) AS capital,
           coalesce(hest.residences, 0) AS residences, coalesce(hest.commercial, 0) AS commercial
    FROM m JOIN hx USING (household_id)
    LEFT JOIN hbus USING (household_id) LEFT JOIN hest USING (household_id)
    WHERE m.member_order = 1
),
-- people in the medical feed of the window or the disability feed of the month, not registered
u AS (
    SELECT coalesce(med.citizen_id, dis.citizen_id) AS citizen_id, coalesce(med.oop12, 0) AS oop12,
           coalesce(med.major, false) AS major, coalesce(dis.severe, false) AS severe
    FROM med FULL JOIN dis ON dis.citizen_id = med.citizen_id
    WHERE NOT EXISTS (SELECT 1 FROM pp WHERE pp.citizen_id = coalesce(med.citizen_id, dis.citizen_id))
)
SELECT 'recipient_died' AS rule_id, citizen_id AS subject_key, CAST(death_date AS VARCHAR) AS event_key
    FROM m WHERE (in_dibao OR in_tekun) AND death_date IS NOT NULL
UNION ALL SELECT 'main_earner_died', household_no, '' FROM h WHERE earner_died
UNION ALL SELECT 'new_severe_disability', citizen_id, '' FROM m
    WHERE severe AND (disability_grade IS NULL OR disability_grade > 2)
UNION ALL SELECT 'discovery_severe_disability', citizen_id, '' FROM u WHERE severe
UNION ALL SELECT 'marginal_individual_inclusion', citizen_id, '' FROM m
    WHERE in_marginal AND NOT in_dibao AND (major OR severe)
UNION ALL SELECT 'house_collapsed', citizen_id, '' FROM m WHERE collapsed
UNION ALL SELECT 'disaster_loss', household_no, '' FROM h WHERE hh_loss >= 5000 AND NOT collapsed
UNION ALL SELECT 'non_compulsory_schooling', citizen_id, '' FROM m WHERE enrolled
UNION ALL SELECT 'only_earner_unemployed', household_no, '' FROM h WHERE only_earner_unemployed
UNION ALL SELECT 'moved_out_of_province', citizen_id, '' FROM m WHERE moved
UNION ALL SELECT 'pension_income_above_marginal_line', household_no, '' FROM h
    WHERE in_dibao AND hh_pension > 0 AND hh_income_monthly + hh_pension > marginal_line * member_count
UNION ALL SELECT 'ineligible_vehicle', household_no, '' FROM h WHERE (in_dibao OR in_tekun) AND hh_cars >= 1
UNION ALL SELECT 'ineligible_business', household_no, '' FROM h
    WHERE (in_dibao OR in_tekun) AND (capital >= 50000 OR businesses >= 2)
UNION ALL SELECT 'ineligible_property', household_no, '' FROM h
    WHERE (in_dibao OR in_tekun) AND (commercial >= 1 OR residences > 1)
UNION ALL SELECT 'ineligible_public_employee', household_no, '' FROM h
    WHERE (in_dibao OR in_tekun) AND public_employees >= 1
UNION ALL SELECT 'catastrophic_medical_spending', household_no, '' FROM h
    WHERE hh_oop12 >= 10000 AND hh_oop12 >= 0.5 * coalesce(hh_income_monthly * 12, 0)
UNION ALL SELECT 'medical_spike_temporary_assistance', citizen_id, '' FROM m
    WHERE (in_dibao OR in_tekun OR in_marginal) AND oop_month > 0 AND oop_month >= 5 * dibao_standard
UNION ALL SELECT 'discovery_catastrophic_medical', citizen_id, '' FROM u
    WHERE oop12 >= 50000 OR (major AND oop12 >= 30000)
UNION ALL SELECT 'dibao_review_6m', household_no, CAST(category_months AS VARCHAR) FROM h
    WHERE in_dibao AND hh_able AND category_months > 0 AND category_months % 6 = 0
UNION ALL SELECT 'dibao_review_12m', household_no, CAST(category_months AS VARCHAR) FROM h
    WHERE in_dibao AND NOT coalesce(hh_able, false) AND category_months > 0 AND category_months % 12 = 0
UNION ALL SELECT 'tekun_review_12m', household_no, CAST(category_months AS VARCHAR) FROM h
    WHERE in_tekun AND NOT in_dibao AND category_months > 0 AND category_months % 12 = 0
UNION ALL SELECT 'tekun_minor_turns_18', citizen_id, '' FROM m WHERE in_tekun AND age = 18 AND previous_age = 17
