-- Members of the registered households (every current member of a household in a category at
-- the end of the period), with what the registry says about them and their household. Age:
-- whole years at the end of the period (born on 29 February: a year older on 1 March in other
-- years); turns_18: 18 at the end of the period and 17 at the end of the month before.
-- household_row: the head (the first member when none is recorded). Main earner: the highest
-- registry income above zero (ties: the head, then the lower person number). working_age_able:
-- 18-59, not disabled grade 1-2, not in school, not a student, not unable to work.
-- category_months: whole months from the earliest start of the current categories to the end
-- of the period (0 in the first month).
WITH periods AS (
    SELECT period_end, CAST(period_start - INTERVAL 1 DAY AS DATE) AS previous_end
    FROM run_period
), persons AS (
    SELECT p.*,
           year(r.period_end) - year(p.birth_date)
               - CASE WHEN month(r.period_end) * 100 + day(r.period_end)
                           < month(p.birth_date) * 100 + day(p.birth_date) THEN 1 ELSE 0 END AS age,
           year(r.previous_end) - year(p.birth_date)
               - CASE WHEN month(r.previous_end) * 100 + day(r.previous_end)
                           < month(p.birth_date) * 100 + day(p.birth_date) THEN 1 ELSE 0 END AS previous_age,
           row_number() OVER (PARTITION BY p.household_id ORDER BY p.relation <> 'head', p.person_id)
               AS member_order,
           row_number() OVER (
               PARTITION BY p.household_id ORDER BY p.monthly_income DESC, p.relation <> 'head', p.person_id
           ) AS income_order
    FROM registry_persons AS p
    CROSS JOIN periods AS r
)
SELECT p.citizen_id, p.person_id, p.household_id, p.household_no, p.division_code,
       h.in_dibao, h.in_tekun, h.in_marginal, h.in_rigid_spending, h.in_relapse_watch, h.in_other,
       12 * (year(r.period_end) - year(h.category_start)) + month(r.period_end) - month(h.category_start)
           AS category_months,
       p.age,
       p.age = 18 AND p.previous_age = 17 AS turns_18,
       p.relation = 'head' AS is_head,
       p.member_order = 1 AS household_row,
       h.member_count AS household_size,
       p.monthly_income > 0 AS earner,
       p.monthly_income > 0 AND p.income_order = 1 AS is_main_earner,
       p.age BETWEEN 18 AND 59
           AND coalesce(p.disability_grade NOT IN (1, 2), true)
           AND coalesce(p.schooling, 'none') = 'none'
           AND coalesce(p.employment, '') NOT IN ('student', 'unable') AS working_age_able,
       h.hh_income_monthly, h.per_capita_income, h.dibao_standard, h.marginal_line,
       p.disability_grade AS registry_disability_grade
FROM persons AS p
JOIN registry_households AS h ON h.household_id = p.household_id
CROSS JOIN run_period AS r
