-- Subjects: every current member of a household in a category at the end of the period, and
-- everyone in the medical feed of the window or the disability feed of the period who is not
-- in the registry (active discovery). One row per person, with what the registry says about
-- them; ``unit`` names the household ('h' + household number), or the person alone
-- ('p' + citizen ID) for an unregistered subject. Age is in whole years at the end of the
-- period (from the citizen ID when unregistered; born on 29 February, a year older on 1 March
-- in other years); turns_18 when the age at the end of the period is 18 and was 17 at the end
-- of the month before. The main earner has the highest registry income above zero (ties: the
-- head, then the lower person number); household_row marks the head (or the first member).
WITH periods AS (
    SELECT period_start, period_end, CAST(period_start - INTERVAL 1 DAY AS DATE) AS previous_end
    FROM run_period
), registered AS (
    SELECT p.citizen_id, p.person_id, p.household_id, p.household_no, p.division_code, true AS registered,
           h.in_dibao, h.in_tekun, h.in_marginal, h.in_rigid_spending, h.in_relapse_watch, h.in_other,
           h.category_start, p.birth_date, p.relation = 'head' AS is_head,
           row_number() OVER (PARTITION BY p.household_id ORDER BY p.relation <> 'head', p.person_id) = 1
               AS household_row,
           p.monthly_income > 0
               AND row_number() OVER (
                   PARTITION BY p.household_id ORDER BY p.monthly_income DESC, p.relation <> 'head', p.person_id
               ) = 1 AS is_main_earner,
           p.monthly_income > 0 AS earner,
           p.disability_grade, p.schooling, p.employment,
           h.member_count AS household_size,
           h.hh_income_monthly, h.per_capita_income, h.dibao_standard, h.marginal_line,
           'h' || p.household_no AS unit
    FROM registry_persons AS p
    JOIN registry_households AS h ON h.household_id = p.household_id
), found AS (
    SELECT citizen_id FROM person_medical
    UNION
    SELECT citizen_id FROM person_disability
), unregistered AS (
    SELECT f.citizen_id, CAST(NULL AS BIGINT) AS person_id, CAST(NULL AS BIGINT) AS household_id,
           CAST(NULL AS VARCHAR) AS household_no,
           coalesce(d.division_code, m.insured_division, substr(f.citizen_id, 1, 6)) AS division_code,
           false AS registered,
           false AS in_dibao, false AS in_tekun, false AS in_marginal, false AS in_rigid_spending,
           false AS in_relapse_watch, false AS in_other, CAST(NULL AS DATE) AS category_start,
           make_date(
               CAST(substr(f.citizen_id, 7, 4) AS INTEGER),
               CAST(substr(f.citizen_id, 11, 2) AS INTEGER),
               CAST(substr(f.citizen_id, 13, 2) AS INTEGER)
           ) AS birth_date,
           true AS is_head, true AS household_row, false AS is_main_earner, false AS earner,
           CAST(NULL AS INTEGER) AS disability_grade, CAST(NULL AS VARCHAR) AS schooling,
           CAST(NULL AS VARCHAR) AS employment, 1 AS household_size,
           CAST(NULL AS DECIMAL(18, 2)) AS hh_income_monthly, CAST(NULL AS DECIMAL(18, 2)) AS per_capita_income,
           CAST(NULL AS DECIMAL(18, 2)) AS dibao_standard, CAST(NULL AS DECIMAL(18, 2)) AS marginal_line,
           'p' || f.citizen_id AS unit
    FROM found AS f
    LEFT JOIN registry_persons AS rp ON rp.citizen_id = f.citizen_id
    LEFT JOIN person_disability AS d ON d.citizen_id = f.citizen_id
    LEFT JOIN person_medical AS m ON m.citizen_id = f.citizen_id
    WHERE rp.citizen_id IS NULL
), everyone AS (
    SELECT * FROM registered
    UNION ALL
    SELECT * FROM unregistered
), aged AS (
    SELECT e.*,
           year(r.period_end) - year(e.birth_date)
               - CASE WHEN month(r.period_end) * 100 + day(r.period_end)
                           < month(e.birth_date) * 100 + day(e.birth_date) THEN 1 ELSE 0 END AS age,
           year(r.previous_end) - year(e.birth_date)
               - CASE WHEN month(r.previous_end) * 100 + day(r.previous_end)
                           < month(e.birth_date) * 100 + day(e.birth_date) THEN 1 ELSE 0 END AS previous_age,
           12 * (year(r.period_end) - year(e.category_start)) + month(r.period_end) - month(e.category_start)
               AS category_months
    FROM everyone AS e
    CROSS JOIN periods AS r
)
SELECT *, age = 18 AND previous_age = 17 AS turns_18
FROM aged
