"""The program formulas, once: named SQL steps over Arrow tables, run by DuckDB.

The steps read three tables — ``h`` (households), ``m`` (members), ``p`` (parameters per
county, area and date) — and leave ``results``, one row per household with every program's
outcome and the intermediate values that explain it. The same steps serve one household
(case work), the whole registry and a what-if scenario; docs/programs.md states the rules.

Money stays exact: DuckDB divides decimals in floating point, so the formulas never divide
money. Tests compare totals scaled by 12 (a year of months, so that 12-month spending needs
no division) and the one division per amount is done in integers by the ``money_div`` macro
(round half up to the fen).
"""

from __future__ import annotations

MACROS = [
    "CREATE OR REPLACE MACRO x6(x) AS CAST(x AS DECIMAL(18,6))",
    # The exact value of x (at most 6 decimals) in millionths, as a BIGINT: whole and fractional
    # parts apart, so that no DECIMAL multiplication can overflow (exact for |x| < 4.6e12 yuan).
    "CREATE OR REPLACE MACRO micro(x) AS CAST(floor(x6(x)) AS BIGINT) * 1000000 "
    "+ CAST((x6(x) - floor(x6(x))) * 1000000 AS BIGINT)",
    # x / d rounded half up to the fen, exactly, in integer arithmetic; d is a positive integer.
    "CREATE OR REPLACE MACRO money_div(x, d) AS CAST((micro(x) * 2 + 10000 * CAST(d AS BIGINT)) "
    "// (20000 * CAST(d AS BIGINT)) AS DECIMAL(18,0)) * 0.01",
]

STEPS: list[tuple[str, str]] = [
    (
        "household_parameters",
        """
        SELECT h.*, p.* EXCLUDE (county_code, area_type, on_date),
               x6(p.dibao__standard) AS s,
               x6(pu.dibao__standard) AS s_urban,
               x6(CASE p.tekun__basic_base_area WHEN 'urban' THEN pu.dibao__standard ELSE pr.dibao__standard END)
                   AS s_base,
               n.n
        FROM h
        JOIN p ON p.county_code = h.county_code AND p.area_type = h.area_type AND p.on_date = h.on_date
        JOIN p AS pu ON pu.county_code = h.county_code AND pu.area_type = 'urban' AND pu.on_date = h.on_date
        JOIN p AS pr ON pr.county_code = h.county_code AND pr.area_type = 'rural' AND pr.on_date = h.on_date
        JOIN (SELECT household_id, count(*) AS n FROM m GROUP BY household_id) AS n USING (household_id)
        """,
    ),
    (
        "household_facts",
        """
        SELECT *,
               vehicles <= dibao__vehicle_limit
                   AND extra_housing <= dibao__extra_housing_limit
                   AND business_registered <= dibao__business_limit
                   AND deposits <= x6(dibao__deposit_limit_months * s) * n AS property_ok,
               x6(coalesce(rigid_medical, 0) + coalesce(rigid_education, 0) + coalesce(rigid_rehabilitation, 0))
                   AS rigid_total
        FROM household_parameters
        """,
    ),
    (
        "member_facts",
        """
        SELECT m.household_id, m.member_no, m.disability_kind, m.disability_grade, m.serious_illness,
               m.has_able_supporter, m.self_care_failed_items,
               date_sub('year', m.birth_date, f.on_date) AS age,
               x6(m.wage_income + m.business_income + m.property_income + m.transfer_income) AS income,
               x6(m.wage_income + m.business_income + m.property_income) AS own_income,
               m.wage_income > 0 AS employed,
               CASE WHEN m.wage_income > 0 THEN least(x6(m.wage_income), x6(f.dibao__employment_disregard_ratio * f.s))
                    ELSE x6(0) END AS employment_disregard,
               coalesce(m.able_to_work = false, false)
                   OR date_sub('year', m.birth_date, f.on_date) >= 60
                   OR date_sub('year', m.birth_date, f.on_date) < 16
                   OR coalesce(m.disability_kind IN ('intellectual', 'mental') AND m.disability_grade <= 3, false)
                   OR coalesce(m.disability_kind = 'physical' AND m.disability_grade <= 2, false)
                   OR coalesce(m.disability_kind = 'visual' AND m.disability_grade = 1, false) AS unable_to_work,
               date_sub('year', m.birth_date, f.on_date) < 18
                   OR (date_sub('year', m.birth_date, f.on_date) < f.tekun__student_age_limit
                       AND m.schooling IN ('high_school', 'vocational', 'college')) AS minor_in_care,
               coalesce(m.disability_grade IN (1, 2)
                   OR (m.disability_grade = 3 AND m.disability_kind IN ('intellectual', 'mental')), false)
                   OR m.serious_illness AS individual_case,
               (CASE WHEN date_sub('year', m.birth_date, f.on_date) >= 60 THEN f.dibao__supplement__elderly ELSE 0 END
                + CASE WHEN date_sub('year', m.birth_date, f.on_date) < 18 THEN f.dibao__supplement__minor ELSE 0 END
                + CASE WHEN coalesce(m.disability_grade IN (1, 2), false)
                       THEN f.dibao__supplement__severe_disability ELSE 0 END
                + CASE WHEN m.serious_illness THEN f.dibao__supplement__serious_illness ELSE 0 END) AS supplement_ratio,
               x6(f.tekun__basic_multiplier * f.s_base) + x6(CASE
                   WHEN m.self_care_failed_items >= 4 THEN f.tekun__care__fully_lost
                   WHEN m.self_care_failed_items >= 1 THEN f.tekun__care__partly_lost
                   ELSE f.tekun__care__self_care END) AS tekun_amount,
               x6(CASE m.disability_grade WHEN 1 THEN f.disability__care_subsidy__grade1
                   WHEN 2 THEN f.disability__care_subsidy__grade2 ELSE 0 END) AS care_subsidy,
               m.disability_grade IS NOT NULL AS disabled,
               f.s, f.property_ok
        FROM m JOIN household_facts AS f USING (household_id)
        """,
    ),
    (
        "member_programs",
        """
        SELECT *,
               (unable_to_work OR minor_in_care) AND own_income < s AND property_ok
                   AND NOT has_able_supporter AS tekun
        FROM member_facts
        """,
    ),
    (
        "household_totals",
        """
        SELECT household_id,
               x6(sum(income)) AS total_income,
               x6(sum(employment_disregard)) AS employment_disregard,
               sum(supplement_ratio) AS supplement_ratio,
               count(*) FILTER (WHERE employed) AS employed_count,
               count(*) FILTER (WHERE individual_case) AS individual_count,
               count(*) FILTER (WHERE tekun) AS tekun_count,
               x6(coalesce(sum(tekun_amount) FILTER (WHERE tekun), 0)) AS tekun_total,
               count(*) FILTER (WHERE care_subsidy > 0 AND NOT tekun) AS care_count,
               x6(coalesce(sum(care_subsidy) FILTER (WHERE NOT tekun), 0)) AS care_total,
               count(*) FILTER (WHERE disabled AND NOT tekun) AS disabled_count,
               count(*) FILTER (WHERE disabled AND NOT tekun AND individual_case) AS disabled_individual_count,
               -- 低保 counts only the members who are not supported as 特困
               count(*) FILTER (WHERE NOT tekun) AS n_d,
               x6(coalesce(sum(income) FILTER (WHERE NOT tekun), 0)) AS total_income_d,
               x6(coalesce(sum(employment_disregard) FILTER (WHERE NOT tekun), 0)) AS employment_disregard_d,
               coalesce(sum(supplement_ratio) FILTER (WHERE NOT tekun), 0) AS supplement_ratio_d,
               count(*) FILTER (WHERE employed AND NOT tekun) AS employed_count_d
        FROM member_programs GROUP BY household_id
        """,
    ),
    (
        "household_tests",
        """
        SELECT f.*, t.* EXCLUDE (household_id),
               greatest(x6(12 * t.total_income - 12 * t.employment_disregard - f.rigid_total), 0) AS counted12,
               greatest(x6(12 * t.total_income_d - 12 * t.employment_disregard_d - f.rigid_total), 0) AS counted12_d
        FROM household_facts AS f JOIN household_totals AS t USING (household_id)
        """,
    ),
    (
        "dibao_bases",
        """
        SELECT *,
               n_d > 0 AND counted12_d < 12 * s * n_d AND property_ok AS dibao_household,
               n_d > 0 AND NOT (counted12_d < 12 * s * n_d AND property_ok) AND in_dibao AND employed_count_d > 0
                   AND months_above_standard BETWEEN 1 AND dibao__phase_out_months AND property_ok AS dibao_phase_out,
               counted12 < 12 * x6(marginal__multiplier * s) * n AND property_ok AS below_marginal_line
        FROM household_tests
        """,
    ),
    (
        "results",
        """
        SELECT household_id, on_date, county_code, area_type, n,
               -- 低保
               CASE WHEN dibao_household THEN 'household' WHEN dibao_phase_out THEN 'phase_out'
                    WHEN marginal AND individual_count > 0 THEN 'individual' END AS dibao_basis,
               dibao_basis IS NOT NULL AS dibao_eligible,
               CASE dibao_basis
                   WHEN 'household' THEN money_div(12 * s * n_d - counted12_d + 12 * x6(s * supplement_ratio_d), 12)
                   WHEN 'phase_out' THEN coalesce(current_dibao_monthly,
                                                  money_div(x6(dibao__phase_out_ratio * s) * n_d, 1))
                   WHEN 'individual' THEN money_div(x6(dibao__individual_inclusion_ratio * s) * individual_count, 1)
                   ELSE 0.00 END AS dibao_amount,
               CASE WHEN dibao_basis IS NULL THEN 0 WHEN dibao_basis = 'individual' THEN individual_count ELSE n_d END
                   AS dibao_covered,
               -- 特困
               tekun_count > 0 AS tekun_eligible,
               money_div(tekun_total, 1) AS tekun_amount,
               tekun_count AS tekun_covered,
               -- 低保边缘
               marginal AS marginal_eligible,
               CASE WHEN marginal THEN n ELSE 0 END AS marginal_covered,
               -- 刚性支出困难
               rigid AS rigid_spending_eligible,
               CASE WHEN rigid THEN n ELSE 0 END AS rigid_spending_covered,
               CASE WHEN rigid THEN CAST(on_date + to_months(CAST(rigid_spending__validity_months AS INTEGER)) AS DATE)
                    END AS rigid_spending_valid_until,
               -- 临时救助
               emergency_kind IS NOT NULL AS temporary_eligible,
               CASE WHEN emergency_kind IS NOT NULL
                    THEN money_div(least(x6(emergency_loss), x6(temporary__cap_multiple * s_urban)), 1)
                    ELSE 0.00 END AS temporary_amount,
               CASE WHEN emergency_kind IS NULL THEN NULL
                    WHEN least(x6(emergency_loss), x6(temporary__cap_multiple * s_urban))
                         <= x6(temporary__township_limit_multiple * s_urban) THEN 'township'
                    ELSE 'county' END AS temporary_approval,
               coalesce(emergency_kind IN ('disaster', 'fire', 'accident'), false) AS temporary_advance_payment,
               CASE WHEN emergency_kind IS NOT NULL THEN n ELSE 0 END AS temporary_covered,
               money_div(x6(temporary__cap_multiple * s_urban), 1) AS temporary_cap,
               money_div(x6(temporary__township_limit_multiple * s_urban), 1) AS temporary_township_limit,
               -- 两项补贴
               care_count > 0 AS care_subsidy_eligible,
               money_div(care_total, 1) AS care_subsidy_amount,
               care_count AS care_subsidy_covered,
               CASE dibao_basis WHEN 'individual' THEN disabled_individual_count
                    WHEN 'household' THEN disabled_count WHEN 'phase_out' THEN disabled_count ELSE 0 END
                   AS living_subsidy_covered,
               living_subsidy_covered > 0 AS living_subsidy_eligible,
               money_div(x6(disability__living_subsidy) * living_subsidy_covered, 1) AS living_subsidy_amount,
               -- explanation
               money_div(s, 1) AS standard,
               money_div(s_urban, 1) AS standard_urban,
               money_div(total_income, 1) AS total_income,
               money_div(counted12, 12) AS counted_income,
               money_div(counted12, 12 * n) AS per_capita_income,
               money_div(employment_disregard, 1) AS employment_disregard,
               money_div(rigid_total, 12) AS rigid_disregard,
               money_div(rigid_total, 1) AS rigid_spending_12m,
               money_div(12 * s * n_d - least(counted12_d, 12 * s * n_d), 12) AS gap,
               n_d AS dibao_members,
               money_div(x6(marginal__multiplier * s), 1) AS marginal_line,
               money_div(x6(rigid_spending__disposable_income_prev_year), 12) AS disposable_income_monthly,
               property_ok, employed_count, individual_count
        FROM (
            SELECT *,
                   NOT dibao_household AND NOT dibao_phase_out AND tekun_count = 0 AND below_marginal_line AS marginal,
                   NOT dibao_household AND NOT dibao_phase_out AND tekun_count = 0
                       AND NOT (below_marginal_line)
                       AND counted12 < x6(rigid_spending__disposable_income_prev_year) * n
                       AND property_ok AND rigid_total > 0
                       AND rigid_total > x6(rigid_spending__ratio * total_income) * 12 AS rigid
            FROM dibao_bases
        )
        """,
    ),
]
