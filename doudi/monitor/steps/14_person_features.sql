-- Each subject with the feed facts about them (zero / false where a feed says nothing), and
-- the person-level flags the household features add up: a death this period, and a member
-- aged 18-59 able to work (not disabled grade 1-2, not in school, not a student, not unable to
-- work; unknown for an unregistered subject).
SELECT s.*,
       coalesce(m.medical_oop_12m, 0) AS medical_oop_12m,
       coalesce(m.medical_oop_period, 0) AS medical_oop_period,
       coalesce(m.medical_total_12m, 0) AS medical_total_12m,
       coalesce(m.inpatient_12m, 0) AS inpatient_12m,
       coalesce(m.major_disease_12m, false) AS major_disease_12m,
       d.new_disability_grade,
       coalesce(d.new_disability_grade IN (1, 2), false) AS new_severe_disability,
       dd.death_date IS NOT NULL AS died,
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
       coalesce(pe.public_employee, false) AS public_employee,
       CASE WHEN s.registered THEN
           s.age BETWEEN 18 AND 59
           AND coalesce(s.disability_grade NOT IN (1, 2), true)
           AND coalesce(s.schooling, 'none') = 'none'
           AND coalesce(s.employment, '') NOT IN ('student', 'unable')
       END AS working_age_able
FROM subjects AS s
CROSS JOIN run_period AS r
LEFT JOIN person_medical AS m ON m.citizen_id = s.citizen_id
LEFT JOIN person_disability AS d ON d.citizen_id = s.citizen_id
LEFT JOIN person_death AS dd ON dd.citizen_id = s.citizen_id
LEFT JOIN person_hukou AS hk ON hk.citizen_id = s.citizen_id
LEFT JOIN person_unemployment AS u ON u.citizen_id = s.citizen_id
LEFT JOIN person_pension AS pn ON pn.citizen_id = s.citizen_id
LEFT JOIN person_disaster AS ds ON ds.citizen_id = s.citizen_id
LEFT JOIN person_school AS sc ON sc.citizen_id = s.citizen_id
LEFT JOIN person_vehicles AS v ON v.citizen_id = s.citizen_id
LEFT JOIN person_public_employee AS pe ON pe.citizen_id = s.citizen_id
