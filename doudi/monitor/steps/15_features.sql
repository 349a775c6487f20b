-- The features table (features.yaml): one row per subject, exactly the catalogue's columns in
-- its order and with its types. Subjects: the members of the registered households, and
-- everyone in the medical feed of the window or the disability feed of the period who is not in
-- the registry (active discovery) and has a hardship signal: out-of-pocket spending in the window
-- of at least run_period.discovery_oop_floor, a major-disease settlement, or a disability event
-- (people with ordinary medical bills are not profiled: PIPL's minimum necessary). An
-- unregistered subject's division is the one the
-- disability feed, else the medical feed gives, else the county of the ID number; the age comes
-- from the ID number (the same rule as for members); registry and programs figures are NULL,
-- and household features are the person's own. Feed facts are zero / false where a feed says
-- nothing.
WITH found AS (
    SELECT coalesce(m.citizen_id, d.citizen_id) AS citizen_id,
           m.medical_oop_12m, m.medical_oop_period, m.medical_total_12m, m.inpatient_12m,
           m.major_disease_12m, d.new_disability_grade,
           coalesce(d.division_code, m.insured_division) AS feed_division,
           d.citizen_id IS NOT NULL AS in_disability_feed
    FROM person_medical AS m
    FULL OUTER JOIN person_disability AS d ON d.citizen_id = m.citizen_id
), born AS (
    SELECT f.*,
           make_date(
               CAST(substr(f.citizen_id, 7, 4) AS INTEGER),
               CAST(substr(f.citizen_id, 11, 2) AS INTEGER),
               CAST(substr(f.citizen_id, 13, 2) AS INTEGER)
           ) AS birth_date
    FROM found AS f
    CROSS JOIN run_period AS r
    LEFT JOIN registry_persons AS rp ON rp.citizen_id = f.citizen_id
    WHERE rp.citizen_id IS NULL
      AND (f.in_disability_feed OR coalesce(f.major_disease_12m, false)
           OR coalesce(f.medical_oop_12m, 0) >= r.discovery_oop_floor)
), unregistered AS (
    SELECT b.*,
           year(r.period_end) - year(b.birth_date)
               - CASE WHEN month(r.period_end) * 100 + day(r.period_end)
                           < month(b.birth_date) * 100 + day(b.birth_date) THEN 1 ELSE 0 END AS age,
           year(r.previous_end) - year(b.birth_date)
               - CASE WHEN month(r.previous_end) * 100 + day(r.previous_end)
                           < month(b.birth_date) * 100 + day(b.birth_date) THEN 1 ELSE 0 END AS previous_age
    FROM born AS b
    CROSS JOIN (
        SELECT period_end, CAST(period_start - INTERVAL 1 DAY AS DATE) AS previous_end FROM run_period
    ) AS r
), subjects AS (
    SELECT s.citizen_id, s.person_id, s.household_no, s.division_code, true AS registered,
           s.in_dibao, s.in_tekun, s.in_marginal, s.in_rigid_spending, s.in_relapse_watch, s.in_other,
           s.category_months, s.age, s.turns_18, s.is_head, s.household_row, s.household_size,
           s.is_main_earner, s.hh_income_monthly, s.per_capita_income, s.dibao_standard, s.marginal_line,
           s.registry_disability_grade,
           m.medical_oop_12m, m.medical_oop_period, m.medical_total_12m, m.inpatient_12m,
           m.major_disease_12m, d.new_disability_grade,
           hf.earners, hf.has_working_age_able, hf.hh_medical_oop_12m, hf.hh_deaths_period,
           hf.hh_main_earner_died, hf.hh_only_earner_unemployed, hf.hh_pension_monthly,
           hf.hh_disaster_loss_period, hf.hh_school_fees_period, hf.hh_cars, hf.hh_vehicles,
           hf.hh_businesses, hf.hh_business_capital, hf.hh_residences, hf.hh_commercial_properties,
           hf.hh_public_employees
    FROM members AS s
    LEFT JOIN household_features AS hf ON hf.household_id = s.household_id
    LEFT JOIN person_medical AS m ON m.citizen_id = s.citizen_id
    LEFT JOIN person_disability AS d ON d.citizen_id = s.citizen_id
    UNION ALL
    SELECT u.citizen_id, CAST(NULL AS BIGINT) AS person_id, CAST(NULL AS VARCHAR) AS household_no,
           coalesce(u.feed_division, substr(u.citizen_id, 1, 6)) AS division_code, false AS registered,
           false AS in_dibao, false AS in_tekun, false AS in_marginal, false AS in_rigid_spending,
           false AS in_relapse_watch, false AS in_other,
           CAST(NULL AS BIGINT) AS category_months, u.age, u.age = 18 AND u.previous_age = 17 AS turns_18,
           true AS is_head, true AS household_row, 1 AS household_size, false AS is_main_earner,
           CAST(NULL AS DECIMAL(18, 2)) AS hh_income_monthly, CAST(NULL AS DECIMAL(18, 2)) AS per_capita_income,
           CAST(NULL AS DECIMAL(18, 2)) AS dibao_standard, CAST(NULL AS DECIMAL(18, 2)) AS marginal_line,
           CAST(NULL AS INTEGER) AS registry_disability_grade,
           u.medical_oop_12m, u.medical_oop_period, u.medical_total_12m, u.inpatient_12m,
           u.major_disease_12m, u.new_disability_grade,
           -- household features; where NULL, the final SELECT takes the person's own value
           0 AS earners, CAST(NULL AS BOOLEAN) AS has_working_age_able,
           CAST(NULL AS DECIMAL(18, 2)) AS hh_medical_oop_12m, CAST(NULL AS BIGINT) AS hh_deaths_period,
           false AS hh_main_earner_died, false AS hh_only_earner_unemployed,
           CAST(NULL AS DECIMAL(18, 2)) AS hh_pension_monthly, CAST(NULL AS DECIMAL(18, 2)) AS hh_disaster_loss_period,
           CAST(NULL AS DECIMAL(18, 2)) AS hh_school_fees_period, CAST(NULL AS BIGINT) AS hh_cars,
           CAST(NULL AS BIGINT) AS hh_vehicles, CAST(NULL AS BIGINT) AS hh_businesses,
           CAST(NULL AS DECIMAL(18, 2)) AS hh_business_capital, CAST(NULL AS BIGINT) AS hh_residences,
           CAST(NULL AS BIGINT) AS hh_commercial_properties, CAST(NULL AS BIGINT) AS hh_public_employees
    FROM unregistered AS u
), own_businesses AS (
    SELECT citizen_id, count(*) AS businesses, coalesce(sum(registered_capital), 0) AS business_capital
    FROM person_businesses
    GROUP BY citizen_id
), own_properties AS (
    SELECT citizen_id,
           count(*) FILTER (WHERE residential) AS residences,
           count(*) FILTER (WHERE commercial) AS commercial_properties
    FROM person_properties
    GROUP BY citizen_id
), joined AS (
    SELECT s.*,
           dd.death_date,
           coalesce(dd.death_date >= r.period_start, false) AS died_in_period,
           coalesce(hk.moved_out_of_province, false) AS moved_out_of_province,
           coalesce(u.unemployed_registered, false) AS unemployed_registered,
           coalesce(pn.pension_monthly, 0) AS pension_monthly,
           coalesce(ds.disaster_loss_period, 0) AS disaster_loss_period,
           coalesce(ds.house_collapsed, false) AS house_collapsed,
           coalesce(sc.enrolled_high_school, false) AS enrolled_high_school,
           coalesce(sc.enrolled_college, false) AS enrolled_college,
           coalesce(sc.school_fee_annual, 0) AS school_fee_annual,
           coalesce(sc.school_fees_period, 0) AS school_fees_period,
           coalesce(v.cars, 0) AS cars,
           coalesce(v.vehicles, 0) AS vehicles,
           coalesce(ob.businesses, 0) AS businesses,
           coalesce(ob.business_capital, 0) AS business_capital,
           coalesce(op.residences, 0) AS residences,
           coalesce(op.commercial_properties, 0) AS commercial_properties,
           coalesce(pe.public_employee, false) AS public_employee
    FROM subjects AS s
    CROSS JOIN run_period AS r
    LEFT JOIN person_death AS dd ON dd.citizen_id = s.citizen_id
    LEFT JOIN person_hukou AS hk ON hk.citizen_id = s.citizen_id
    LEFT JOIN person_unemployment AS u ON u.citizen_id = s.citizen_id
    LEFT JOIN person_pension AS pn ON pn.citizen_id = s.citizen_id
    LEFT JOIN person_disaster AS ds ON ds.citizen_id = s.citizen_id
    LEFT JOIN person_school AS sc ON sc.citizen_id = s.citizen_id
    LEFT JOIN person_vehicles AS v ON v.citizen_id = s.citizen_id
    LEFT JOIN own_businesses AS ob ON ob.citizen_id = s.citizen_id
    LEFT JOIN own_properties AS op ON op.citizen_id = s.citizen_id
    LEFT JOIN person_public_employee AS pe ON pe.citizen_id = s.citizen_id
)
SELECT CAST(citizen_id AS VARCHAR) AS citizen_id,
       CAST(person_id AS BIGINT) AS person_id,
       CAST(household_no AS VARCHAR) AS household_no,
       CAST(division_code AS VARCHAR) AS division_code,
       CAST(household_row AS BOOLEAN) AS household_row,
       CAST(registered AS BOOLEAN) AS registered,
       CAST(in_dibao AS BOOLEAN) AS in_dibao,
       CAST(in_tekun AS BOOLEAN) AS in_tekun,
       CAST(in_marginal AS BOOLEAN) AS in_marginal,
       CAST(in_rigid_spending AS BOOLEAN) AS in_rigid_spending,
       CAST(in_relapse_watch AS BOOLEAN) AS in_relapse_watch,
       CAST(in_other AS BOOLEAN) AS in_other,
       CAST(category_months AS BIGINT) AS category_months,
       CAST(age AS BIGINT) AS age,
       CAST(turns_18 AS BOOLEAN) AS turns_18,
       CAST(is_head AS BOOLEAN) AS is_head,
       CAST(household_size AS BIGINT) AS household_size,
       CAST(earners AS BIGINT) AS earners,
       CAST(is_main_earner AS BOOLEAN) AS is_main_earner,
       CAST(has_working_age_able AS BOOLEAN) AS has_working_age_able,
       CAST(hh_income_monthly AS DECIMAL(18, 2)) AS hh_income_monthly,
       CAST(hh_income_monthly * 12 AS DECIMAL(18, 2)) AS hh_income_12m,
       CAST(per_capita_income AS DECIMAL(18, 2)) AS per_capita_income,
       CAST(dibao_standard AS DECIMAL(18, 2)) AS dibao_standard,
       CAST(marginal_line AS DECIMAL(18, 2)) AS marginal_line,
       CAST(coalesce(medical_oop_12m, 0) AS DECIMAL(18, 2)) AS medical_oop_12m,
       CAST(coalesce(medical_oop_period, 0) AS DECIMAL(18, 2)) AS medical_oop_period,
       CAST(coalesce(medical_total_12m, 0) AS DECIMAL(18, 2)) AS medical_total_12m,
       CAST(coalesce(inpatient_12m, 0) AS BIGINT) AS inpatient_12m,
       CAST(coalesce(major_disease_12m, false) AS BOOLEAN) AS major_disease_12m,
       CAST(CASE WHEN registered THEN hh_medical_oop_12m ELSE coalesce(medical_oop_12m, 0) END AS DECIMAL(18, 2))
           AS hh_medical_oop_12m,
       CAST(new_disability_grade AS BIGINT) AS new_disability_grade,
       CAST(coalesce(new_disability_grade IN (1, 2), false) AS BOOLEAN) AS new_severe_disability,
       CAST(registry_disability_grade AS BIGINT) AS registry_disability_grade,
       CAST(death_date IS NOT NULL AS BOOLEAN) AS died,
       CAST(death_date AS DATE) AS death_date,
       CAST(CASE WHEN registered THEN hh_deaths_period WHEN died_in_period THEN 1 ELSE 0 END AS BIGINT)
           AS hh_deaths_period,
       CAST(hh_main_earner_died AS BOOLEAN) AS hh_main_earner_died,
       CAST(moved_out_of_province AS BOOLEAN) AS moved_out_of_province,
       CAST(unemployed_registered AS BOOLEAN) AS unemployed_registered,
       CAST(hh_only_earner_unemployed AS BOOLEAN) AS hh_only_earner_unemployed,
       CAST(pension_monthly AS DECIMAL(18, 2)) AS pension_monthly,
       CAST(CASE WHEN registered THEN hh_pension_monthly ELSE pension_monthly END AS DECIMAL(18, 2))
           AS hh_pension_monthly,
       CAST(disaster_loss_period AS DECIMAL(18, 2)) AS disaster_loss_period,
       CAST(CASE WHEN registered THEN hh_disaster_loss_period ELSE disaster_loss_period END AS DECIMAL(18, 2))
           AS hh_disaster_loss_period,
       CAST(house_collapsed AS BOOLEAN) AS house_collapsed,
       CAST(enrolled_high_school AS BOOLEAN) AS enrolled_high_school,
       CAST(enrolled_college AS BOOLEAN) AS enrolled_college,
       CAST(school_fee_annual AS DECIMAL(18, 2)) AS school_fee_annual,
       CAST(CASE WHEN registered THEN hh_school_fees_period ELSE school_fees_period END AS DECIMAL(18, 2))
           AS hh_school_fees_period,
       CAST(CASE WHEN registered THEN hh_cars ELSE cars END AS BIGINT) AS hh_cars,
       CAST(CASE WHEN registered THEN hh_vehicles ELSE vehicles END AS BIGINT) AS hh_vehicles,
       CAST(CASE WHEN registered THEN hh_businesses ELSE businesses END AS BIGINT) AS hh_businesses,
       CAST(CASE WHEN registered THEN hh_business_capital ELSE business_capital END AS DECIMAL(18, 2))
           AS hh_business_capital,
       CAST(CASE WHEN registered THEN hh_residences ELSE residences END AS BIGINT) AS hh_residences,
       CAST(CASE WHEN registered THEN hh_commercial_properties ELSE commercial_properties END AS BIGINT)
           AS hh_commercial_properties,
       CAST(public_employee AS BOOLEAN) AS public_employee,
       CAST(CASE WHEN registered THEN hh_public_employees WHEN public_employee THEN 1 ELSE 0 END AS BIGINT)
           AS hh_public_employees
FROM joined
