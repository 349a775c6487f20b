-- Household features, one row per unit (a registered household, or an unregistered subject
-- alone): sums and counts over the members, the main earner's death this period, the only
-- earner's unemployment, and the market entities and buildings of all members (an entity or a
-- certificate shared by two members counts once).
WITH members AS (
    SELECT unit,
           count(*) FILTER (WHERE earner) AS earners,
           bool_or(working_age_able) AS has_working_age_able,
           CAST(sum(medical_oop_12m) AS DECIMAL(18, 2)) AS hh_medical_oop_12m,
           count(*) FILTER (WHERE died_in_period) AS hh_deaths_period,
           coalesce(bool_or(is_main_earner AND died_in_period), false) AS hh_main_earner_died,
           count(*) FILTER (WHERE earner) = 1
               AND coalesce(bool_or(earner AND unemployed_registered), false) AS hh_only_earner_unemployed,
           CAST(sum(pension_monthly) AS DECIMAL(18, 2)) AS hh_pension_monthly,
           CAST(sum(disaster_loss_period) AS DECIMAL(18, 2)) AS hh_disaster_loss_period,
           CAST(sum(school_fees_period) AS DECIMAL(18, 2)) AS hh_school_fees_period,
           sum(cars) AS hh_cars,
           sum(vehicles) AS hh_vehicles,
           count(*) FILTER (WHERE public_employee) AS hh_public_employees
    FROM person_features
    GROUP BY unit
), entities AS (
    SELECT s.unit, b.credit_code, max(b.registered_capital) AS registered_capital
    FROM subjects AS s
    JOIN person_businesses AS b ON b.citizen_id = s.citizen_id
    GROUP BY s.unit, b.credit_code
), businesses AS (
    SELECT unit, count(*) AS hh_businesses,
           CAST(coalesce(sum(registered_capital), 0) AS DECIMAL(18, 2)) AS hh_business_capital
    FROM entities
    GROUP BY unit
), buildings AS (
    SELECT s.unit, e.certificate_no, bool_or(e.residential) AS residential, bool_or(e.commercial) AS commercial
    FROM subjects AS s
    JOIN person_properties AS e ON e.citizen_id = s.citizen_id
    GROUP BY s.unit, e.certificate_no
), properties AS (
    SELECT unit,
           count(*) FILTER (WHERE residential) AS hh_residences,
           count(*) FILTER (WHERE commercial) AS hh_commercial_properties
    FROM buildings
    GROUP BY unit
)
SELECT m.*,
       coalesce(b.hh_businesses, 0) AS hh_businesses,
       coalesce(b.hh_business_capital, 0) AS hh_business_capital,
       coalesce(p.hh_residences, 0) AS hh_residences,
       coalesce(p.hh_commercial_properties, 0) AS hh_commercial_properties
FROM members AS m
LEFT JOIN businesses AS b ON b.unit = m.unit
LEFT JOIN properties AS p ON p.unit = m.unit
