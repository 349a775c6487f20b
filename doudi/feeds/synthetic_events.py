"""Event feeds of one part of the synthetic population, month by month.

:class:`PartFeeds` holds the state of a part across the months (who has died or left the
province, disability certificates, unemployment registrations, pensions) and
:meth:`PartFeeds.month` returns, for one month, one typed Arrow table per feed kind with
exactly the contract's columns (enum *codes*, money as ``decimal128(18, 2)`` built from
integer cents). The snapshot kinds come from :class:`~doudi.feeds.synthetic_holdings.PartHoldings`.
Messes are added later, by :mod:`doudi.feeds.synthetic_mess`, to the delivered files only.

Every rate is a module constant with a comment saying where it comes from, or that it is an
assumption chosen to look plausible. Rates are per person (or household) and month unless
said otherwise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from doudi.feeds.synthetic_base import (
    KINDS,
    Month,
    Names,
    PartContext,
    Scope,
    codes,
    contract_table,
    lognormal_cents,
    random_days,
)
from doudi.feeds.synthetic_holdings import PartHoldings
from doudi.feeds.synthetic_people import (
    DIBAO,
    DISABILITY_KINDS,
    E_EMPLOYED,
    E_FLEXIBLE,
    E_RETIRED,
    E_UNEMPLOYED,
    OTHER_PROVINCE_COUNTIES,
    S_COLLEGE,
    S_COMPULSORY,
    S_HIGH,
    S_NONE,
    S_PRESCHOOL,
    S_VOCATIONAL,
    TEKUN,
    Part,
    Places,
    dates,
    day_number,
    digits_matrix,
    fixed_ascii,
    join,
    money,
    other_province_ids,
    rng_for,
)

# --- rates: deaths -------------------------------------------------------------------------------

#: Annual probability of death q(age) = A·exp(B·age) (Gompertz). Fitted by eye to China's 2020
#: census life table (q ≈ 1 % at 60, 2.3 % at 72, 6 % at 80, 15 % at 90); on the synthetic
#: population's ages it gives ≈ 0.7 % a year (Guizhou's crude death rate: 7.2 ‰ in 2023).
MORTALITY_A = 4.5e-5
MORTALITY_B = 0.09
#: Infants: annual death probability in the first year (Guizhou infant mortality ≈ 5 ‰).
MORTALITY_INFANT = 0.005
#: The seriously ill die more often (assumption: three times the rate of their age).
MORTALITY_ILL_FACTOR = 3.0
#: The hukou is cancelled 0–34 days after the death (assumption); a cancellation after the end
#: of the month is not in that month's file yet (the date is empty).
DEATH_CANCEL_DAYS = 35

# --- rates: medical insurance settlements (医保) -------------------------------------------------

#: Age bands used for medical and disability rates: <5, 5–17, 18–44, 45–59, 60–69, 70–79, 80+.
AGE_BANDS = np.array([5, 18, 45, 60, 70, 80])
#: Outpatient settlements per person and month by age band. Assumption calibrated to about
#: 0.3 a month (≈ 4 settled outpatient visits a year per insured person, the order of the
#: NHSA statistical bulletins' outpatient benefit counts per insured person).
OUTPATIENT_PER_MONTH = np.array([0.45, 0.20, 0.18, 0.30, 0.50, 0.62, 0.70])
#: The seriously ill and the severely disabled see doctors more often (assumption).
OUTPATIENT_ILL_FACTOR = 2.0
OUTPATIENT_SEVERE_DISABILITY_FACTOR = 1.5
#: Outpatient bill: log-normal, median 90 yuan, σ 0.9 (township clinics and county hospitals;
#: assumption in line with average outpatient costs of 100–300 yuan at Chinese hospitals).
OUTPATIENT_MEDIAN_YUAN, OUTPATIENT_SIGMA = 90.0, 0.9
#: Share of an outpatient bill the pooled fund pays (resident scheme: about 50 %), ± 10 points.
OUTPATIENT_REIMBURSED = 0.50
#: Share of outpatient bills below the deductible, paid entirely by the patient (assumption).
OUTPATIENT_BELOW_DEDUCTIBLE = 0.05
#: Chronic and special diseases (门诊慢特病) certified: share of persons by group (assumption:
#: most of the seriously ill, a tenth of the old, a few in late middle age).
CHRONIC_SHARE_ILL, CHRONIC_SHARE_60, CHRONIC_SHARE_45 = 0.60, 0.10, 0.03
#: A certified chronic patient settles a chronic-disease bill in most months.
CHRONIC_MONTHLY = 0.7
CHRONIC_MEDIAN_YUAN, CHRONIC_SIGMA, CHRONIC_REIMBURSED = 350.0, 0.6, 0.65
#: Inpatient stays per person and month by age band (≈ 1.3 % on average: China's annual
#: hospitalisation rate was about 18–20 % in 2021–2023, Statistical Bulletin of health).
INPATIENT_PER_MONTH = np.array([0.010, 0.004, 0.009, 0.012, 0.022, 0.032, 0.042])
#: The seriously ill are admitted far more often (assumption: one month in five).
INPATIENT_ILL = 0.20
#: A person who dies this month was in hospital first in half the cases (assumption).
INPATIENT_BEFORE_DEATH = 0.5
#: Inpatient bill by hospital level: township centre, county hospital, provincial hospital
#: (medians in yuan; China's average inpatient bill was about 10,000 yuan in 2022, lower at
#: county level and at township centres).
INPATIENT_MEDIAN_YUAN = np.array([2_200.0, 6_000.0, 15_000.0])
INPATIENT_SIGMA = 0.75
#: The seriously ill: median 20,000 yuan, σ 0.9 (assumption: cancer, dialysis, surgery).
INPATIENT_ILL_MEDIAN_YUAN, INPATIENT_ILL_SIGMA = 20_000.0, 0.9
#: Share of an inpatient bill reimbursed (resident scheme: about 55–70 % within the policy
#: scope, less of the total bill): uniform in this range.
INPATIENT_REIMBURSED = (0.50, 0.68)
#: Catastrophic bills: share of stays with a bill of 150,000–600,000 yuan (assumption; ICU,
#: transplant, cancer treatment), reimbursed 45–65 % including critical-illness insurance.
CATASTROPHIC_SHARE, CATASTROPHIC_SHARE_ILL = 0.004, 0.03
CATASTROPHIC_MEDIAN_YUAN, CATASTROPHIC_SIGMA = 250_000.0, 0.45
CATASTROPHIC_REIMBURSED = (0.45, 0.65)
#: Extra share of the bill paid for 特困 / 低保 / other registered persons (medical
#: assistance settled in the same "one-stop" settlement; 医疗救助 pays 70 % or more of the
#: remaining policy-scope cost for 低保 and all of it for 特困). Capped at 95 %.
ASSISTANCE_BOOST_TEKUN, ASSISTANCE_BOOST_DIBAO, ASSISTANCE_BOOST_OTHER = 0.25, 0.15, 0.06
#: Critical-illness insurance (大病保险) applies above an out-of-pocket amount of about
#: 10,000–13,000 yuan in Guizhou: such bills carry the major-disease flag.
MAJOR_DISEASE_OOP_CENTS = 1_200_000
#: Settlements of people insured in other provinces treated in Guizhou (异地就医), as a share
#: of rows (assumption).
MEDICAL_OTHER_PROVINCE = 0.002

# --- rates: disability certificates (残联) -----------------------------------------------------

#: New certificates: ≈ 0.04 % of persons a month on average (Guizhou has about 900,000
#: certificate holders, 2.3 % of its people, growing by some tens of thousands a year),
#: rising with age like the prevalence (relative weights by age band) and four times as
#: often for the seriously ill.
DISABILITY_NEW_MONTHLY = 0.0004
DISABILITY_AGE_WEIGHT = np.array([0.6, 1.0, 2.2, 5.0, 9.0, 15.0, 24.0])
DISABILITY_AGE_WEIGHT_MEAN = 3.9  # mean of the weights over the synthetic population's ages
DISABILITY_ILL_FACTOR = 4.0
#: Grades of new certificates: 1/2/3/4 = 12/18/30/40 % (≈ 30 % severe, grade 1–2).
DISABILITY_NEW_GRADE_P = np.array([0.12, 0.18, 0.30, 0.40])
#: Kinds in DISABILITY_KINDS order (visual, hearing, speech, physical, intellectual, mental,
#: multiple), the 2006 national sample survey's proportions.
DISABILITY_KIND_P = np.array([0.15, 0.22, 0.03, 0.29, 0.09, 0.08, 0.14])
#: Certificate holders whose grade is reassessed in a month (70 % to a more severe grade),
#: and who give up the certificate while alive; assumptions.
DISABILITY_CHANGE_MONTHLY, DISABILITY_CHANGE_WORSE = 0.0005, 0.7
DISABILITY_CANCEL_MONTHLY = 0.0001
#: Certificates of the dead cancelled the month after the death (the rest later); assumption.
DISABILITY_CANCEL_AFTER_DEATH = 0.6

# --- rates: hukou moves (公安户政) --------------------------------------------------------------

#: Households moving their hukou within the province (assumption; 70 % within the county).
MOVE_HOUSEHOLD_MONTHLY, MOVE_SAME_COUNTY = 0.0005, 0.7
#: Persons moving their hukou out of the province (rare: most migrants keep their hukou);
#: 16–45-year-olds four times as often. Assumption.
MOVE_OUT_MONTHLY, MOVE_OUT_YOUNG_FACTOR = 0.00005, 4.0
#: Persons moving their hukou back into the province (returning migrants); assumption.
MOVE_IN_MONTHLY = 0.00008

# --- rates: unemployment (人社) -----------------------------------------------------------------

#: Registrations of the employed and flexibly employed aged 16–59: ≈ 0.1 % a month (urban
#: 1.5×, rural 0.6×); of people already without work 0.2 %. Assumptions around Guizhou's
#: registered urban unemployment of about 4 %.
UNEMPLOYMENT_REGISTER_MONTHLY = 0.001
UNEMPLOYMENT_URBAN_FACTOR, UNEMPLOYMENT_RURAL_FACTOR = 1.5, 0.6
UNEMPLOYMENT_IDLE_MONTHLY = 0.002
#: Share of unemployed urban people registered before the first month (their registration
#: ends at the same monthly rate).
UNEMPLOYMENT_ONGOING_SHARE = 0.2
#: A registration ends (job found, benefit expired) at 15 % a month: a mean of about 6 months.
UNEMPLOYMENT_END_MONTHLY = 0.15
#: Urban employees insured against unemployment: 70 % receive a benefit of about 90 % of the
#: local minimum wage, 1,500–1,900 yuan a month (assumption).
UNEMPLOYMENT_BENEFIT_SHARE = 0.7
UNEMPLOYMENT_BENEFIT_CENTS = (150_000, 190_000)
#: Registrations in Guizhou of people whose hukou is elsewhere (assumption).
UNEMPLOYMENT_OTHER_PROVINCE = 0.005

# --- rates: pensions (人社) ---------------------------------------------------------------------

#: Everyone aged 60 or more receives the resident pension (城乡居民基本养老保险): a basic
#: pension plus a personal-account part, 150–300 yuan a month (Guizhou's basic part is a bit
#: above 150 yuan). Stable for a person across the months.
RESIDENT_PENSION_CENTS = (15_000, 30_000)
#: Retired employees (employment "retired" in the registry): enterprise scheme, median 3,300
#: yuan, or (18 %) the public-service scheme, median 5,200 yuan (assumptions near Guizhou's
#: averages). Clipped to 2,200–6,500 and 3,500–9,000 yuan.
EMPLOYEE_PENSION_MEDIAN_YUAN, EMPLOYEE_PENSION_SIGMA = 3_300.0, 0.18
PUBLIC_SERVICE_PENSION_SHARE = 0.18
PUBLIC_SERVICE_PENSION_MEDIAN_YUAN, PUBLIC_SERVICE_PENSION_SIGMA = 5_200.0, 0.2

# --- rates: disasters (应急) --------------------------------------------------------------------

#: Disaster events per county and month, times the month's seasonal weight (summer floods and
#: landslides in June–August, hail in spring, freezing rain in winter). With 1–4 townships hit
#: and 2–12 % of their households recorded, about 1.5 % of households a year are victims
#: (assumption; Guizhou counts millions of "affected people" a year in its broad statistics).
DISASTER_EVENTS_PER_COUNTY_MONTH = 0.125
DISASTER_SEASON = np.array([0.3, 0.3, 0.4, 0.7, 1.0, 2.4, 2.8, 2.0, 0.8, 0.4, 0.3, 0.6])
DISASTER_HOUSEHOLD_SHARE = (0.02, 0.12)
#: Disaster kinds by month (in the contract's order: flood, landslide, drought, hail, fire,
#: earthquake, freeze): weights for winter (Dec–Feb), spring (Mar–May), summer (Jun–Aug),
#: autumn (Sep–Nov).
DISASTER_KINDS = ("flood", "landslide", "drought", "hail", "fire", "earthquake", "freeze")
DISASTER_KIND_SEASON = np.array(
    [
        [0.00, 0.10, 0.10, 0.00, 0.00, 0.02, 0.78],
        [0.15, 0.15, 0.25, 0.43, 0.00, 0.02, 0.00],
        [0.55, 0.35, 0.03, 0.05, 0.00, 0.02, 0.00],
        [0.30, 0.30, 0.35, 0.03, 0.00, 0.02, 0.00],
    ]
)
#: House fires of single households, a month (doubled in winter and in rural areas); assumption.
HOUSE_FIRE_MONTHLY = 0.00002
#: House damage none / minor / severe / collapsed, by kind group: floods, landslides and
#: earthquakes damage houses; drought, hail and freeze mostly crops; fires destroy.
HOUSE_DAMAGE_P = {
    "structural": np.array([0.56, 0.28, 0.11, 0.05]),
    "crops": np.array([0.85, 0.13, 0.02, 0.00]),
    "fire": np.array([0.00, 0.30, 0.40, 0.30]),
}
#: Direct loss by damage (median yuan, log-normal σ 0.6): crops only, minor, severe, collapsed.
DISASTER_LOSS_MEDIAN_YUAN = np.array([1_200.0, 4_000.0, 15_000.0, 50_000.0])

# --- rates: schooling (教育) --------------------------------------------------------------------

#: The September intake: 15-year-olds to high school or secondary vocational school (when the
#: registry does not say, 50 % / 35 %, the rest leave school: Guizhou's upper-secondary gross
#: enrolment is about 90 %), 18-year-olds to higher education (45 % when the registry does
#: not say), 3-year-olds to kindergarten (85 %).
HIGH_SCHOOL_P, VOCATIONAL_P, COLLEGE_P, PRESCHOOL_P = 0.50, 0.35, 0.45, 0.85
#: Spring intake of secondary vocational schools (March): share of vocational students aged
#: 15–17; transfers and late enrolments in other months: share of students aged 15–22.
SPRING_VOCATIONAL_SHARE, TRANSFER_MONTHLY = 0.03, 0.0003
#: Students from other provinces enrolling in Guizhou's colleges, per Guizhou student (assumption).
COLLEGE_OTHER_PROVINCE = 0.10
#: Annual fees including lodging (yuan, uniform): public high school, vocational (tuition is
#: free, lodging and books are not), college (15 % private, dearer), kindergarten.
FEE_YUAN = {
    "high_school": (1_200, 3_200),
    "vocational": (600, 2_500),
    "college": (5_000, 9_000),
    "college_private": (14_000, 24_000),
    "preschool": (1_800, 7_200),
}
COLLEGE_PRIVATE_SHARE = 0.15

# --- disasters: planned per county and month, so that every part agrees ---------------------------------


@dataclass(frozen=True)
class DisasterEvent:
    county: int
    townships: np.ndarray  # township indices hit
    share: float  # share of their households recorded
    kind: int  # index into DISASTER_KINDS
    day: int  # day number


def _season(month: int) -> int:
    return {12: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2}.get(month, 3)


def plan_disasters(places: Places, month: Month, seed: int) -> list[DisasterEvent]:
    """The clustered disaster events of a month, the same whatever the parts."""
    events: list[DisasterEvent] = []
    rate = DISASTER_EVENTS_PER_COUNTY_MONTH * DISASTER_SEASON[month.month - 1]
    kind_p = DISASTER_KIND_SEASON[_season(month.month)]
    townships_of = [np.flatnonzero(places.township_county == c) for c in range(places.counties)]
    for county in range(places.counties):
        rng = rng_for(seed, 70, month.ordinal, county)
        for _ in range(int(rng.poisson(rate))):
            towns = townships_of[county]
            if len(towns) == 0:
                continue
            k = min(len(towns), 1 + int(rng.integers(0, 4)))
            hit = np.sort(rng.choice(towns, size=k, replace=False))
            events.append(
                DisasterEvent(
                    county=county,
                    townships=hit,
                    share=float(rng.uniform(*DISASTER_HOUSEHOLD_SHARE)),
                    kind=int(rng.choice(len(DISASTER_KINDS), p=kind_p)),
                    day=int(month.start + rng.integers(0, month.days)),
                )
            )
    return events


def _band(age: np.ndarray) -> np.ndarray:
    return np.searchsorted(AGE_BANDS, age, side="right")


class PartFeeds(PartContext):
    """The feeds of one part of the population, month after month (call :meth:`month` in order)."""

    def __init__(
        self,
        part: Part,
        places: Places,
        names: Names,
        months: list[Month],
        seed: int,
        scope: Scope,
        disasters: dict[int, list[DisasterEvent]],
    ) -> None:
        super().__init__(part, places, names, months, seed, scope)
        self.disasters = disasters
        n = part.n
        rng = self.rng(0, 0)
        self.death_month = np.full(n, -1, dtype=np.int64)
        self.grade = part.grade.copy()
        self.dkind = part.disability_kind.copy()
        self.dkind[(self.grade > 0) & (self.dkind < 0)] = 3  # physical when the registry lacks the kind
        age0 = self.age(months[0].start)
        # Chronic-disease certification
        u = rng.random(n)
        self.chronic = np.where(
            part.ill,
            u < CHRONIC_SHARE_ILL,
            np.where(age0 >= 60, u < CHRONIC_SHARE_60, (age0 >= 45) & (u < CHRONIC_SHARE_45)),
        )
        # Unemployment: month index of the registration, -2 before the window, -1 none
        working = (age0 >= 16) & (age0 < 60)
        self.unemployed_since = np.full(n, -1, dtype=np.int64)
        ongoing = working & self.urban & (part.employment == E_UNEMPLOYED)
        self.unemployed_since[ongoing & (rng.random(n) < UNEMPLOYMENT_ONGOING_SHARE)] = -2
        # Pensions: 1 resident, 2 employee, 3 public service
        retired = part.employment == E_RETIRED
        public = retired & (rng.random(n) < PUBLIC_SERVICE_PENSION_SHARE)
        self.pension_scheme = np.where(public, 3, np.where(retired, 2, 1))
        resident = rng.integers(RESIDENT_PENSION_CENTS[0], RESIDENT_PENSION_CENTS[1] + 1, n)
        employee = np.clip(
            lognormal_cents(rng, n, EMPLOYEE_PENSION_MEDIAN_YUAN, EMPLOYEE_PENSION_SIGMA), 220_000, 650_000
        )
        public_amount = np.clip(
            lognormal_cents(rng, n, PUBLIC_SERVICE_PENSION_MEDIAN_YUAN, PUBLIC_SERVICE_PENSION_SIGMA),
            350_000,
            900_000,
        )
        self.pension_cents = np.where(public, public_amount, np.where(retired, employee, resident))
        self.holdings = PartHoldings(self, age0, public)

    # --- the month ----------------------------------------------------------------------------

    def month(self, m: int) -> dict[str, tuple[pa.Table, int]]:
        """Every kind's table for month ``m`` and its count of rows of people from other provinces."""
        month = self.months[m]
        exists = self.p.birth <= month.end
        present = self.alive & ~self.moved_out & exists
        out: dict[str, tuple[pa.Table, int]] = {}
        dying, death_day = self._deaths(month, present)
        out["death"] = self._death_table(month, dying, death_day)
        out["medical"] = self._medical(month, present, dying, death_day)
        out["disability"] = self._disability(month, present)
        out["hukou_move"] = self._hukou_moves(month, present & ~dying)
        out["unemployment"] = self._unemployment(month, present & ~dying)
        out["pension"] = self._pension(month, present)
        out["disaster"] = self._disaster(month, present)
        out["school"] = self._school(month, present & ~dying)
        out["vehicle"] = self.holdings.vehicles_table(month)
        out["business"] = self.holdings.businesses_table(month)
        out["real_estate"] = self.holdings.properties_table(month)
        out["public_employee"] = self.holdings.posts_table(month, present & ~dying)
        return {k: out[k] for k in KINDS}

    # --- deaths ------------------------------------------------------------------------------

    def _deaths(self, month: Month, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng(1, month.index)
        p = self.p
        age = self.age(month.start)
        q = np.minimum(MORTALITY_A * np.exp(MORTALITY_B * age), 0.6)
        q = np.where(age == 0, MORTALITY_INFANT, q)
        q = np.where(p.ill, np.minimum(q * MORTALITY_ILL_FACTOR, 0.6), q)
        monthly = 1.0 - (1.0 - q) ** (1.0 / 12.0)
        dying = present & (rng.random(p.n) < monthly)
        day = random_days(rng, month, p.n)
        day = np.maximum(day, p.birth)
        self.alive[dying] = False
        self.death_month[dying] = month.index
        return dying, day

    def _death_table(self, month: Month, dying: np.ndarray, death_day: np.ndarray) -> tuple[pa.Table, int]:
        rng = self.rng(2, month.index)
        idx = np.flatnonzero(dying)
        k = len(idx)
        day = death_day[idx]
        cancel = day + rng.integers(0, DEATH_CANCEL_DAYS, k)
        take = pa.array(idx)
        cols = {
            "citizen_id": self.p.citizen_id.take(take),
            "name": self.p.name.take(take),
            "division_code": self.places.township_codes.take(pa.array(self.township[idx])),
            "death_date": dates(day),
            "cancel_date": dates(cancel, cancel <= month.end),
        }
        return contract_table(self.contracts["death"], k, cols), 0

    # --- medical -------------------------------------------------------------------------------

    def _medical(
        self, month: Month, present: np.ndarray, dying: np.ndarray, death_day: np.ndarray
    ) -> tuple[pa.Table, int]:
        rng = self.rng(3, month.index)
        p = self.p
        n = p.n
        age = self.age(month.start)
        band = _band(age)
        severe = (self.grade >= 1) & (self.grade <= 2)
        lam = OUTPATIENT_PER_MONTH[band] * np.where(p.ill, OUTPATIENT_ILL_FACTOR, 1.0)
        lam = lam * np.where(severe, OUTPATIENT_SEVERE_DISABILITY_FACTOR, 1.0)
        n_out = np.where(present, rng.poisson(lam), 0)
        chronic = present & self.chronic & (rng.random(n) < CHRONIC_MONTHLY)
        p_in = np.where(p.ill, INPATIENT_ILL, INPATIENT_PER_MONTH[band])
        p_in = np.where(dying, np.maximum(p_in, INPATIENT_BEFORE_DEATH), p_in)
        inpatient = present & (rng.random(n) < p_in)

        person = np.concatenate(
            [np.repeat(np.arange(n), n_out), np.flatnonzero(chronic), np.flatnonzero(inpatient)]
        )
        visit = np.concatenate(
            [
                np.full(int(n_out.sum()), 1, dtype=np.int64),
                np.full(int(chronic.sum()), 2, dtype=np.int64),
                np.zeros(int(inpatient.sum()), dtype=np.int64),
            ]
        )  # 0 inpatient, 1 outpatient, 2 chronic (contract order)
        order = np.argsort(person, kind="stable")
        person = person[order]
        visit = visit[order]
        rows = len(person)
        ill = p.ill[person]
        rural = ~self.urban[person]

        # Hospital: provincial / county (people's or TCM) / township centre / village clinic
        u = rng.random(rows)
        level = np.select(
            [
                visit == 1,
                visit == 2,
                ill,
            ],
            [
                np.where(u < 0.15, 1, np.where((u < 0.35) & rural, 3, 2)),
                np.where(u < 0.6, 1, 2),
                np.where(u < 0.6, 0, 1),
            ],
            default=np.where(u < 0.25, 0, np.where(u < 0.75, 1, np.where(rural, 2, 1))),
        )
        county = self.county[person]
        township = self.township[person]
        village = p.hh_village[p.hh[person]]
        nm = self.names
        hosp = np.select(
            [level == 0, level == 1, level == 2],
            [
                rng.integers(0, nm.county_first, rows),
                nm.county_first + county + self.places.counties * (rng.random(rows) < 0.25),
                nm.township_first + township,
            ],
            default=nm.village_first + village,
        )
        # Amounts (cents)
        total = np.empty(rows, dtype=np.int64)
        rate = np.empty(rows)
        o = visit == 1
        total[o] = lognormal_cents(rng, int(o.sum()), OUTPATIENT_MEDIAN_YUAN, OUTPATIENT_SIGMA)
        rate[o] = OUTPATIENT_REIMBURSED + rng.uniform(-0.1, 0.1, int(o.sum()))
        rate[o & (rng.random(rows) < OUTPATIENT_BELOW_DEDUCTIBLE)] = 0.0
        c = visit == 2
        total[c] = lognormal_cents(rng, int(c.sum()), CHRONIC_MEDIAN_YUAN, CHRONIC_SIGMA)
        rate[c] = CHRONIC_REIMBURSED + rng.uniform(-0.08, 0.08, int(c.sum()))
        i = visit == 0
        lvl = np.clip(2 - level, 0, 2)  # 0 township … 2 provincial
        median = np.where(ill, INPATIENT_ILL_MEDIAN_YUAN, INPATIENT_MEDIAN_YUAN[lvl])
        sigma = np.where(ill, INPATIENT_ILL_SIGMA, INPATIENT_SIGMA)
        total[i] = np.maximum(
            np.round(median * 100.0 * np.exp(sigma * rng.standard_normal(rows))), 100
        ).astype(np.int64)[i]
        rate[i] = rng.uniform(*INPATIENT_REIMBURSED, rows)[i]
        cat_share = np.where(ill, CATASTROPHIC_SHARE_ILL, CATASTROPHIC_SHARE)
        catastrophic = i & (rng.random(rows) < cat_share)
        total[catastrophic] = lognormal_cents(rng, rows, CATASTROPHIC_MEDIAN_YUAN, CATASTROPHIC_SIGMA)[
            catastrophic
        ]
        rate[catastrophic] = rng.uniform(*CATASTROPHIC_REIMBURSED, rows)[catastrophic]
        cat = p.hh_cat[p.hh[person]]
        boost = np.where(
            cat & TEKUN,
            ASSISTANCE_BOOST_TEKUN,
            np.where(cat & DIBAO, ASSISTANCE_BOOST_DIBAO, np.where(cat != 0, ASSISTANCE_BOOST_OTHER, 0.0)),
        )
        rate = np.where(rate > 0, np.minimum(rate + boost, 0.95), 0.0)
        reimbursed = np.floor(total * rate).astype(np.int64)
        oop = total - reimbursed
        major = (ill & (visit != 1)) | (oop >= MAJOR_DISEASE_OOP_CENTS) | catastrophic
        # Dates: any day of the month, before the death for those who die
        day = random_days(rng, month, rows)
        day = np.minimum(day, np.where(dying[person], death_day[person], month.end))
        day = np.maximum(day, p.birth[person])
        # Insured division: the township (resident scheme); urban employees: the county.
        employee = self.urban[person] & (p.employment[person] == E_EMPLOYED)
        division = pc.if_else(
            pa.array(employee),
            self.places.county_codes.take(pa.array(county)),
            self.places.township_codes.take(pa.array(township)),
        )
        take = pa.array(person)
        cid = p.citizen_id.take(take)
        name = p.name.take(take)

        # People insured in other provinces, treated here
        k = int(rng.binomial(rows, MEDICAL_OTHER_PROVINCE)) if rows else 0
        if k:
            o_visit = np.where(rng.random(k) < 0.6, 1, 0)
            o_total = np.where(
                o_visit == 1,
                lognormal_cents(rng, k, 200.0, OUTPATIENT_SIGMA),
                lognormal_cents(rng, k, 12_000.0, INPATIENT_SIGMA),
            )
            o_rate = np.where(o_visit == 1, 0.4, rng.uniform(0.4, 0.6, k))
            o_reimb = np.floor(o_total * o_rate).astype(np.int64)
            cid = pa.concat_arrays([cid, other_province_ids(rng, k, month.start - 365)])
            name = pa.concat_arrays([name, p.name.take(pa.array(rng.integers(0, p.n, k)))])
            division = pa.concat_arrays([division, pa.nulls(k, pa.string())])
            visit = np.concatenate([visit, o_visit])
            hosp = np.concatenate(
                [
                    hosp,
                    np.where(
                        o_visit == 1,
                        nm.county_first + rng.integers(0, self.places.counties, k),
                        rng.integers(0, nm.county_first, k),
                    ),
                ]
            )
            total = np.concatenate([total, o_total])
            reimbursed = np.concatenate([reimbursed, o_reimb])
            oop = np.concatenate([oop, o_total - o_reimb])
            major = np.concatenate([major, (o_total - o_reimb) >= MAJOR_DISEASE_OOP_CENTS])
            day = np.concatenate([day, random_days(rng, month, k)])
        total_rows = rows + k
        serial = (
            (month.year * 100 + month.month) * 10**11 + p.no * 10**8 + np.arange(total_rows, dtype=np.int64)
        )
        cols = {
            "settlement_no": pa.array(serial).cast(pa.string()),
            "citizen_id": cid,
            "name": name,
            "insured_division": division,
            "settle_date": dates(day),
            "hospital": nm.hospitals.take(pa.array(hosp)),
            "visit_type": codes(("inpatient", "outpatient", "chronic"), visit),
            "total_cost": money(total),
            "reimbursed": money(reimbursed),
            "out_of_pocket": money(oop),
            "major_disease": pa.array(major, type=pa.bool_()),
        }
        return contract_table(self.contracts["medical"], total_rows, cols), k

    # --- disability ----------------------------------------------------------------------------

    def _disability(self, month: Month, present: np.ndarray) -> tuple[pa.Table, int]:
        rng = self.rng(4, month.index)
        p = self.p
        n = p.n
        age = self.age(month.start)
        weight = DISABILITY_AGE_WEIGHT[_band(age)] / DISABILITY_AGE_WEIGHT_MEAN
        rate = DISABILITY_NEW_MONTHLY * weight * np.where(p.ill, DISABILITY_ILL_FACTOR, 1.0)
        had = self.grade > 0
        new = present & ~had & (rng.random(n) < rate)
        change = present & had & (rng.random(n) < DISABILITY_CHANGE_MONTHLY)
        cancel_alive = present & had & ~change & (rng.random(n) < DISABILITY_CANCEL_MONTHLY)
        cancel_dead = (
            had
            & (self.death_month >= 0)
            & (self.death_month == month.index - 1)
            & (rng.random(n) < DISABILITY_CANCEL_AFTER_DEATH)
        )
        cancel = cancel_alive | cancel_dead

        i_new = np.flatnonzero(new)
        new_grade = rng.choice(4, size=len(i_new), p=DISABILITY_NEW_GRADE_P) + 1
        new_kind = rng.choice(len(DISABILITY_KINDS), size=len(i_new), p=DISABILITY_KIND_P)
        i_change = np.flatnonzero(change)
        worse = rng.random(len(i_change)) < DISABILITY_CHANGE_WORSE
        changed_grade = np.clip(self.grade[i_change] + np.where(worse, -1, 1), 1, 4)
        really = changed_grade != self.grade[i_change]
        i_change, changed_grade = i_change[really], changed_grade[really]
        i_cancel = np.flatnonzero(cancel)
        person = np.concatenate([i_new, i_change, i_cancel])
        event = np.concatenate(
            [
                np.zeros(len(i_new), np.int64),
                np.ones(len(i_change), np.int64),
                np.full(len(i_cancel), 2, np.int64),
            ]
        )
        grade = np.concatenate([new_grade, changed_grade, self.grade[i_cancel]])
        kind = np.concatenate([new_kind, self.dkind[i_change], self.dkind[i_cancel]])
        order = np.argsort(person, kind="stable")
        person, event, grade, kind = person[order], event[order], grade[order], kind[order]
        day = random_days(rng, month, len(person))
        # The dead's certificates are cancelled after the death; the living's dates after birth
        day = np.maximum(day, p.birth[person])
        # State after the month
        self.grade[i_new] = new_grade
        self.dkind[i_new] = new_kind
        self.grade[i_change] = changed_grade
        self.grade[i_cancel] = 0

        take = pa.array(person)
        cid = p.citizen_id.take(take)
        suffix = digits_matrix(kind + 1, 1)
        suffix = np.concatenate([suffix, digits_matrix(grade, 1)], axis=1)
        cols = {
            "certificate_no": join(cid, fixed_ascii(suffix)),
            "citizen_id": cid,
            "name": p.name.take(take),
            "division_code": self.places.township_codes.take(pa.array(self.township[person])),
            "event": codes(("issue", "change", "cancel"), event),
            "event_date": dates(day),
            "disability_kind": codes(DISABILITY_KINDS, kind),
            "grade": pa.array(grade.astype(np.int32)),
        }
        return contract_table(self.contracts["disability"], len(person), cols), 0

    # --- hukou moves ---------------------------------------------------------------------------

    def _hukou_moves(self, month: Month, present: np.ndarray) -> tuple[pa.Table, int]:
        rng = self.rng(5, month.index)
        p = self.p
        n = p.n
        places = self.places
        hh_moves = rng.random(p.households) < MOVE_HOUSEHOLD_MONTHLY
        hh_day = random_days(rng, month, p.households)
        within = present & hh_moves[p.hh]
        age = self.age(month.start)
        out_rate = MOVE_OUT_MONTHLY * np.where((age >= 16) & (age <= 45), MOVE_OUT_YOUNG_FACTOR, 1.0)
        out = present & ~within & (rng.random(n) < out_rate)
        into = present & ~within & ~out & (rng.random(n) < MOVE_IN_MONTHLY)

        # Destination of households moving within the province
        same = rng.random(p.households) < MOVE_SAME_COUNTY
        any_town = rng.integers(0, places.townships, p.households)
        county_towns = [np.flatnonzero(places.township_county == c) for c in range(places.counties)]
        dest = any_town.copy()
        for c in np.unique(p.hh_county):
            towns = county_towns[int(c)]
            sel = (p.hh_county == c) & same
            dest[sel] = towns[rng.integers(0, len(towns), int(sel.sum()))]
        dest = np.where(dest == p.hh_township, (dest + 1) % places.townships, dest)
        # other provinces' counties as 6-digit codes
        other = pa.array(OTHER_PROVINCE_COUNTIES.astype("U6"), type=pa.string())

        i_within = np.flatnonzero(within)
        i_out = np.flatnonzero(out)
        i_in = np.flatnonzero(into)
        person = np.concatenate([i_within, i_out, i_in])
        direction = np.concatenate(
            [
                np.full(len(i_within), 1, np.int64),
                np.zeros(len(i_out), np.int64),
                np.full(len(i_in), 2, np.int64),
            ]
        )
        day = np.concatenate([hh_day[p.hh[i_within]], random_days(rng, month, len(i_out) + len(i_in))])
        day = np.maximum(day, p.birth[person])
        own = places.township_codes.take(pa.array(self.township[person]))
        elsewhere = other.take(pa.array(rng.integers(0, len(other), len(person))))
        moved_to = places.township_codes.take(pa.array(dest[p.hh[person]]))
        from_div = pc.if_else(pa.array(direction == 2), elsewhere, own)
        to_div = pc.if_else(
            pa.array(direction == 0), elsewhere, pc.if_else(pa.array(direction == 1), moved_to, own)
        )
        self.moved_out[i_out] = True
        take = pa.array(person)
        cols = {
            "citizen_id": p.citizen_id.take(take),
            "name": p.name.take(take),
            "move_date": dates(day),
            "direction": codes(("out_of_province", "within_province", "into_province"), direction),
            "from_division": from_div,
            "to_division": to_div,
        }
        return contract_table(self.contracts["hukou_move"], len(person), cols), 0

    # --- unemployment --------------------------------------------------------------------------

    def _unemployment(self, month: Month, present: np.ndarray) -> tuple[pa.Table, int]:
        rng = self.rng(6, month.index)
        p = self.p
        n = p.n
        age = self.age(month.start)
        working = present & (age >= 16) & (age < 60)
        registered = self.unemployed_since != -1
        active_job = np.isin(p.employment, (E_EMPLOYED, E_FLEXIBLE))
        factor = np.where(self.urban, UNEMPLOYMENT_URBAN_FACTOR, UNEMPLOYMENT_RURAL_FACTOR)
        rate = np.where(
            active_job,
            UNEMPLOYMENT_REGISTER_MONTHLY * factor,
            np.where(p.employment == E_UNEMPLOYED, UNEMPLOYMENT_IDLE_MONTHLY, 0.0),
        )
        new = working & ~registered & (rng.random(n) < rate)
        end = (
            present
            & registered
            & (self.unemployed_since < month.index)
            & (rng.random(n) < UNEMPLOYMENT_END_MONTHLY)
        )
        self.unemployed_since[new] = month.index
        self.unemployed_since[end] = -1
        self.unemployed_since[~self.alive] = -1

        i_new = np.flatnonzero(new)
        i_end = np.flatnonzero(end)
        person = np.concatenate([i_new, i_end])
        event = np.concatenate([np.zeros(len(i_new), np.int64), np.ones(len(i_end), np.int64)])
        order = np.argsort(person, kind="stable")
        person, event = person[order], event[order]
        rows = len(person)
        day = np.maximum(random_days(rng, month, rows), p.birth[person])
        insured = (event == 0) & self.urban[person] & (p.employment[person] == E_EMPLOYED)
        benefit_paid = insured & (rng.random(rows) < UNEMPLOYMENT_BENEFIT_SHARE)
        benefit = (
            rng.integers(UNEMPLOYMENT_BENEFIT_CENTS[0] // 100, UNEMPLOYMENT_BENEFIT_CENTS[1] // 100 + 1, rows)
            * 100
        )
        take = pa.array(person)
        cid = p.citizen_id.take(take)
        name = p.name.take(take)
        division = self.places.township_codes.take(pa.array(self.township[person]))
        k = int(rng.binomial(rows, UNEMPLOYMENT_OTHER_PROVINCE)) if rows else 0
        if k:
            cid = pa.concat_arrays([cid, other_province_ids(rng, k, month.start - 18 * 366)])
            name = pa.concat_arrays([name, p.name.take(pa.array(rng.integers(0, n, k)))])
            division = pa.concat_arrays(
                [
                    division,
                    self.places.township_codes.take(pa.array(rng.integers(0, self.places.townships, k))),
                ]
            )
            event = np.concatenate([event, np.zeros(k, np.int64)])
            day = np.concatenate([day, random_days(rng, month, k)])
            benefit = np.concatenate([benefit, np.zeros(k, np.int64)])
            benefit_paid = np.concatenate([benefit_paid, np.zeros(k, bool)])
        cols = {
            "citizen_id": cid,
            "name": name,
            "division_code": division,
            "event": codes(("register", "end"), event),
            "event_date": dates(day),
            "benefit_monthly": money(benefit, benefit_paid),
        }
        return contract_table(self.contracts["unemployment"], rows + k, cols), k

    # --- pensions ---------------------------------------------------------------------------------

    def _pension(self, month: Month, present: np.ndarray) -> tuple[pa.Table, int]:
        p = self.p
        age = self.age(month.end)
        # Those who died this month are paid for it; from the next month they are gone.
        paid = present & ((self.pension_scheme >= 2) | (age >= 60))
        person = np.flatnonzero(paid)
        person = person[self.in_scope(person)]
        scheme = self.pension_scheme[person]
        take = pa.array(person)
        cols = {
            "citizen_id": p.citizen_id.take(take),
            "name": p.name.take(take),
            "scheme": codes(("", "resident", "employee", "public_service"), scheme),
            "monthly_amount": money(self.pension_cents[person]),
        }
        return contract_table(self.contracts["pension"], len(person), cols), 0

    # --- disasters --------------------------------------------------------------------------------

    def _disaster(self, month: Month, present: np.ndarray) -> tuple[pa.Table, int]:
        rng = self.rng(7, month.index)
        p = self.p
        h = p.households
        head_present = present[p.hh_start]
        hh_list: list[np.ndarray] = []
        kind_list: list[np.ndarray] = []
        day_list: list[np.ndarray] = []
        for ev in self.disasters[month.index]:
            in_area = np.isin(p.hh_township, ev.townships) & head_present
            if not in_area.any():
                continue
            hit = np.flatnonzero(in_area & (rng.random(h) < ev.share))
            hh_list.append(hit)
            kind_list.append(np.full(len(hit), ev.kind, np.int64))
            day_list.append(np.minimum(ev.day + rng.integers(0, 3, len(hit)), month.end))
        winter = month.month in (12, 1, 2)
        fire_rate = HOUSE_FIRE_MONTHLY * np.where(p.hh_urban, 1.0, 2.0) * (2.0 if winter else 1.0)
        fire = np.flatnonzero(head_present & (rng.random(h) < fire_rate))
        hh_list.append(fire)
        kind_list.append(np.full(len(fire), DISASTER_KINDS.index("fire"), np.int64))
        day_list.append(random_days(rng, month, len(fire)))
        hh = np.concatenate(hh_list)
        kind = np.concatenate(kind_list)
        day = np.concatenate(day_list)
        # One row per household, date and kind (the key)
        key = (hh * 64 + kind) * 40_000 + (day - month.start)
        _, first = np.unique(key, return_index=True)
        first = np.sort(first)
        hh, kind, day = hh[first], kind[first], day[first]
        rows = len(hh)
        group = np.where(
            kind == DISASTER_KINDS.index("fire"),
            2,
            np.where(np.isin(kind, [0, 1, 5]), 0, 1),
        )
        u = rng.random(rows)
        damage = np.empty(rows, dtype=np.int64)
        for g, key_name in enumerate(("structural", "crops", "fire")):
            cdf = np.cumsum(HOUSE_DAMAGE_P[key_name])
            sel = group == g
            damage[sel] = np.minimum(np.searchsorted(cdf, u[sel], side="right"), 3)
        loss = lognormal_cents(rng, rows, DISASTER_LOSS_MEDIAN_YUAN[damage], 0.6)
        loss = (loss // 100) * 100  # whole yuan
        head = p.hh_start[hh]
        take = pa.array(head)
        cols = {
            "citizen_id": p.citizen_id.take(take),
            "name": p.name.take(take),
            "division_code": self.places.township_codes.take(pa.array(p.hh_township[hh])),
            "disaster_date": dates(day),
            "disaster_kind": codes(DISASTER_KINDS, kind),
            "house_damage": codes(("none", "minor", "severe", "collapsed"), damage),
            "loss_amount": money(loss),
        }
        return contract_table(self.contracts["disaster"], rows, cols), 0

    # --- schooling --------------------------------------------------------------------------------

    def _cohort(self, year: int, age: int) -> np.ndarray:
        """Persons who are ``age`` on 1 September of ``year`` (born Sep (y−age−1) … Aug (y−age))."""
        lo = day_number(dt.date(year - age - 1, 9, 2))
        hi = day_number(dt.date(year - age, 9, 1))
        return (self.p.birth >= lo) & (self.p.birth <= hi)

    def _school(self, month: Month, present: np.ndarray) -> tuple[pa.Table, int]:
        rng = self.rng(8, month.index)
        p = self.p
        n = p.n
        u = rng.random(n)
        stage = np.full(n, -1, dtype=np.int64)  # 0 preschool, 1 high school, 2 vocational, 3 college
        s = p.schooling
        if month.month == 9:
            c15 = self._cohort(month.year, 15) & present
            stage[c15 & (s == S_HIGH)] = 1
            stage[c15 & (s == S_VOCATIONAL)] = 2
            # Still in compulsory school in the registry (it was recorded before the intake):
            # the intake decides; "none" at 15 means the child left school.
            undecided = c15 & (s == S_COMPULSORY)
            stage[undecided & (u < HIGH_SCHOOL_P)] = 1
            stage[undecided & (u >= HIGH_SCHOOL_P) & (u < HIGH_SCHOOL_P + VOCATIONAL_P)] = 2
            c18 = self._cohort(month.year, 18) & present
            stage[c18 & (s == S_COLLEGE)] = 3
            stage[c18 & np.isin(s, (S_HIGH, S_COMPULSORY)) & (u < COLLEGE_P)] = 3
            c3 = self._cohort(month.year, 3) & present
            stage[c3 & (s == S_PRESCHOOL)] = 0
            stage[c3 & (s == S_NONE) & (u < PRESCHOOL_P)] = 0
            first_days = 10
        elif month.month == 3:
            age = self.age(month.start)
            spring = present & (s == S_VOCATIONAL) & (age >= 15) & (age <= 17) & (u < SPRING_VOCATIONAL_SHARE)
            stage[spring] = 2
            first_days = 10
        else:
            first_days = month.days
        age = self.age(month.start)
        transfer = (
            present & (stage < 0) & (age >= 15) & (age <= 22) & np.isin(s, (S_HIGH, S_VOCATIONAL, S_COLLEGE))
        )
        transfer &= rng.random(n) < TRANSFER_MONTHLY
        stage[transfer] = np.select([s == S_HIGH, s == S_VOCATIONAL], [1, 2], default=3)[transfer]
        person = np.flatnonzero(stage >= 0)
        st = stage[person]
        rows = len(person)
        day = month.start + rng.integers(0, first_days, rows)
        day = np.where(transfer[person], random_days(rng, month, rows), day)
        county = self.county[person]
        private = rng.random(rows) < COLLEGE_PRIVATE_SHARE
        nm = self.names
        school = pc.if_else(
            pa.array(st == 0),
            nm.kindergartens.take(pa.array(self.township[person])),
            pc.if_else(
                pa.array(st == 1),
                nm.schools_high.take(pa.array(county + self.places.counties * rng.integers(0, 3, rows))),
                pc.if_else(
                    pa.array(st == 2),
                    nm.schools_vocational.take(pa.array(county)),
                    pc.if_else(
                        pa.array(private),
                        nm.private_colleges.take(pa.array(rng.integers(0, len(nm.private_colleges), rows))),
                        nm.colleges.take(pa.array(rng.integers(0, len(nm.colleges), rows))),
                    ),
                ),
            ),
        )
        fee = np.empty(rows, dtype=np.int64)
        for code, key in enumerate(("preschool", "high_school", "vocational", "college")):
            sel = st == code
            lo, hi = FEE_YUAN[key]
            fee[sel] = rng.integers(lo, hi + 1, rows)[sel] * 100
        plo, phi = FEE_YUAN["college_private"]
        fee[(st == 3) & private] = rng.integers(plo, phi + 1, rows)[(st == 3) & private] * 100
        take = pa.array(person)
        cid = p.citizen_id.take(take)
        name = p.name.take(take)
        # Students from other provinces at Guizhou's colleges
        k = int(rng.binomial(int((st == 3).sum()), COLLEGE_OTHER_PROVINCE)) if rows else 0
        if k:
            latest = day_number(dt.date(month.year - 17, 9, 1))
            o_ids = other_province_ids(rng, k, latest)
            cid = pa.concat_arrays([cid, o_ids])
            name = pa.concat_arrays([name, p.name.take(pa.array(rng.integers(0, n, k)))])
            school = pa.concat_arrays(
                [school, nm.colleges.take(pa.array(rng.integers(0, len(nm.colleges), k)))]
            )
            st = np.concatenate([st, np.full(k, 3, np.int64)])
            day = np.concatenate([day, month.start + rng.integers(0, first_days, k)])
            lo, hi = FEE_YUAN["college"]
            fee = np.concatenate([fee, rng.integers(lo, hi + 1, k) * 100])
        cols = {
            "citizen_id": cid,
            "name": name,
            "school": school,
            "stage": codes(("preschool", "high_school", "vocational", "college"), st),
            "enrol_date": dates(day),
            "annual_fee": money(fee),
        }
        return contract_table(self.contracts["school"], rows + k, cols), k
