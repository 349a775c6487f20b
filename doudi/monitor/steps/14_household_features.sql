-- Household features of the registered households, over their current members: earners, a
-- working-age member able to work, medical spending, deaths this period and whether the main
-- earner died, the only earner's registered unemployment, pensions, disaster losses, this
-- period's school fees, vehicles, public employees, and the market entities and buildings of
-- all members (an entity or a certificate shared by two members counts once).
WITH members AS (
    SELECT s.household_id, s.citizen_id, s.earner, s.is_main_earner, s.working_age_able,
           coalesce(dd.death_date >= r.period_start, false) AS died_in_period,
           coalesce(u.unemployed_registered, false) AS unemployed_registered,
           m.medical_oop_12m, pn.pension_monthly, ds.disaster_loss_period, sc.school_fees_period,
           v.cars, v.vehicles, coalesce(pe.public_employee, false) AS public_employee
    FROM members AS s
    CROSS JOIN run_period AS r
    LEFT JOIN person_medical AS m ON m.citizen_id = s.citizen_id
    LEFT JOIN person_death AS dd ON dd.citizen_id = s.citizen_id
    LEFT JOIN person_unemployment AS u ON u.citizen_id = s.citizen_id
    LEFT JOIN person_pension AS pn ON pn.citizen_id = s.citizen_id
    LEFT JOIN person_disaster AS ds ON ds.citizen_id = s.citizen_id
    LEFT JOIN person_school AS sc ON sc.citizen_id = s.citizen_id
    LEFT JOIN person_vehicles AS v ON v.citizen_id = s.citizen_id
    LEFT JOIN person_public_employee AS pe ON pe.citizen_id = s.citizen_id
), sums AS (
    SELECT household_id,
           count(*) FILTER (WHERE earner) AS earners,
           bool_or(working_age_able) AS has_working_age_able,
           coalesce(sum(medical_oop_12m), 0) AS hh_medical_oop_12m,
           count(*) FILTER (WHERE died_in_period) AS hh_deaths_period,
           coalesce(bool_or(is_main_earner AND died_in_period), false) AS hh_main_earner_died,
           count(*) FILTER (WHERE earner) = 1
               AND coalesce(bool_or(earner AND unemployed_registered), false) AS hh_only_earner_unemployed,
           coalesce(sum(pension_monthly), 0) AS hh_pension_monthly,
           coalesce(sum(disaster_loss_period), 0) AS hh_disaster_loss_period,
           coalesce(sum(school_fees_period), 0) AS hh_school_fees_period,
           coalesce(sum(cars), 0) AS hh_cars,
           coalesce(sum(vehicles), 0) AS hh_vehicles,
           count(*) FILTER (WHERE public_employee) AS hh_public_employees
    FROM members
    GROUP BY household_id
), entities AS (
    SELECT m.household_id, b.credit_code, max(b.registered_capital) AS registered_capital
    FROM members AS m
    JOIN person_businesses AS b ON b.citizen_id = m.citizen_id
    GROUP BY m.household_id, b.credit_code
), businesses AS (
    SELECT household_id, count(*) AS hh_businesses,
           coalesce(sum(registered_capital), 0) AS hh_business_capital
    FROM entities
    GROUP BY household_id
), buildings AS (
    SELECT m.household_id, e.certificate_no,
           bool_or(e.residential) AS residential, bool_or(e.commercial) AS commercial
    FROM members AS m
    JOIN person_properties AS e ON e.citizen_id = m.citizen_id
    GROUP BY m.household_id, e.certificate_no
), properties AS (
    SELECT household_id,
           count(*) FILTER (WHERE residential) AS hh_residences,
           count(*) FILTER (WHERE commercial) AS hh_commercial_properties
    FROM buildings
    GROUP BY household_id
)
SELECT s.*,
       coalesce(b.hh_businesses, 0) AS hh_businesses,
       coalesce(b.hh_business_capital, 0) AS hh_business_capital,
       coalesce(p.hh_residences, 0) AS hh_residences,
       coalesce(p.hh_commercial_properties, 0) AS hh_commercial_properties
FROM sums AS s
LEFT JOIN businesses AS b ON b.household_id = s.household_id
LEFT JOIN properties AS p ON p.household_id = s.household_id
