"""Snapshot feeds of one part: vehicles, market entities, real estate, public payroll.

A snapshot lists everything on record as of the period, so the items are drawn once for the
first month (from the registry's household property counts, plus the 防错 signals: items the
registry does not know about in registered households) and then change a little from month
to month: a few additions and removals, the same plates and certificate numbers otherwise.

Serial numbers (plates, credit codes, property certificates) are derived from the household's
or person's row number in the population files and a slot, scrambled by an affine bijection,
so they are unique and the same in every month.
"""

from __future__ import annotations

import weakref

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from doudi.feeds.synthetic_base import (
    COUNTY_EMPLOYERS,
    TOWNSHIP_EMPLOYERS,
    Holdings,
    Month,
    PartContext,
    codes,
    contract_table,
    lognormal_cents,
    random_days,
)
from doudi.feeds.synthetic_people import (
    E_EMPLOYED,
    E_STUDENT,
    E_UNABLE,
    dates,
    digits_matrix,
    fixed_ascii,
    join,
    money,
)

# --- rates: vehicles (公安交管) -------------------------------------------------------------------

#: Cars come from the registry's household vehicle count (about 25 % of households have one:
#: Guizhou had about 12 million motor vehicles for 39 million people in 2023, roughly half of
#: them cars). 8 % of them are light trucks.
TRUCK_SHARE = 0.08
#: Motorcycles, tricycles and farm tractors (common in the countryside, not a sign of wealth):
#: share of rural / urban households owning one (assumption); registered households too.
BIKE_RURAL, BIKE_URBAN = 0.30, 0.10
#: Registered households owning a car the registry does not know about (防错 signal):
#: 低保 1 %, 特困 0.3 %, 低保边缘 2 %, others 1 % of households (assumption from audit reports).
HIDDEN_CAR_DIBAO, HIDDEN_CAR_TEKUN, HIDDEN_CAR_MARGINAL, HIDDEN_CAR_OTHER = 0.01, 0.003, 0.02, 0.01
#: New registrations a month: 0.3 % of households buy a car (registered households 0.02 %);
#: 0.2 % of vehicles are scrapped or sold a month (assumptions).
CAR_PURCHASE_MONTHLY, CAR_PURCHASE_REGISTERED_MONTHLY = 0.003, 0.0002
VEHICLE_REMOVAL_MONTHLY = 0.002
#: Vehicles registered in Guizhou to people with hukou elsewhere, per vehicle (population scope;
#: assumption).
VEHICLE_OTHER_PROVINCE = 0.005

# --- rates: market entities (市场监管) -----------------------------------------------------------

#: Businesses declared in the registry's household count, led by the head; on top of them
#: adults (18–70) of unregistered households run one at 6 %, so that about 6 % of adults are
#: the legal representative or operator of a market entity on record, 85 % of them active
#: (China: about 125 million individual businesses and 50 million companies for 1.1 billion
#: adults).
BUSINESS_EXTRA_ADULT = 0.06
#: Registered households with a business the registry does not know: 低保 1 %, others 1.5 %.
HIDDEN_BUSINESS_DIBAO, HIDDEN_BUSINESS_OTHER = 0.01, 0.015
#: Entity kinds individual / company / cooperative / other and their status on record
#: (active / revoked / cancelled): assumptions.
BUSINESS_KIND_P = np.array([0.75, 0.18, 0.05, 0.02])
BUSINESS_STATUS_P = np.array([0.85, 0.05, 0.10])
#: New entities a month per adult (registered households: a tenth), cancellations per active entity.
BUSINESS_NEW_MONTHLY, BUSINESS_CANCEL_MONTHLY = 0.0008, 0.003

# --- rates: real estate (不动产登记) ---------------------------------------------------------------

#: Households with a registered home: urban 78 %, rural 70 % (rural homesteads are still being
#: registered); 40 % of certificates list the spouse as co-owner. Assumptions.
HOME_URBAN, HOME_RURAL, CO_OWNER_SHARE = 0.78, 0.70, 0.40
#: Further homes come from the registry's extra_housing count; registered households with a
#: second home the registry does not know: 低保 0.5 %, others 1 % (防错 signal).
HIDDEN_HOME_DIBAO, HIDDEN_HOME_OTHER = 0.005, 0.01
#: Commercial / office / industrial property of unregistered urban households (rural: a
#: quarter of it); registered households 0.1 % (assumptions).
COMMERCIAL_URBAN, OFFICE_URBAN, INDUSTRIAL_URBAN = 0.02, 0.003, 0.002
HIDDEN_COMMERCIAL = 0.001
#: Purchases and sales a month (registered households buy at a tenth of the rate); assumption.
PROPERTY_PURCHASE_MONTHLY, PROPERTY_SALE_MONTHLY = 0.001, 0.0008
#: Properties and market entities of people with hukou elsewhere, per item (population scope;
#: assumption).
PROPERTY_OTHER_PROVINCE = 0.003

# --- rates: public payroll (财政供养) ----------------------------------------------------------

#: Employed people aged 22–59 of unregistered households on the public payroll: 10 % (urban
#: 1.5×, rural 0.6×), about 3 % of adults (Guizhou: over a million people paid from public
#: funds). Retired public servants (public-service pensioners) are listed as retired.
PUBLIC_EMPLOYEE_SHARE = 0.10
#: Registered households with a member on the payroll (防错 signal), among those with a member
#: aged 20–59 able to work (about half of them): 低保 1 %, others 2 % — about 0.5 % and 1 % of
#: all such households.
HIDDEN_PUBLIC_DIBAO, HIDDEN_PUBLIC_OTHER = 0.01, 0.02
#: Staffing: civil servant / institution / contract (registered households: mostly contract).
STAFFING_P = np.array([0.30, 0.55, 0.15])
STAFFING_HIDDEN_P = np.array([0.10, 0.30, 0.60])
#: Monthly pay (median yuan, log-normal σ 0.2) by staffing, and of the retired.
PAY_MEDIAN_YUAN = np.array([6_200.0, 5_600.0, 2_600.0, 5_200.0])
#: Hires (July–September) and departures a month, per post; assumptions.
PUBLIC_HIRE_MONTHLY, PUBLIC_LEAVE_MONTHLY = 0.001, 0.0005


_PLATE_ALPHABET = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O
_CREDIT_ALPHABET = b"0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, S, V, Z
_CREDIT_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])  # GB 11714 organisation code
_CREDIT_VALUE = np.full(128, 0, dtype=np.int64)
for _i, _c in enumerate(_CREDIT_ALPHABET):
    _CREDIT_VALUE[_c] = _i
#: Serial-number slots per household: plates 0–2 cars, 3 motorcycle etc., 4–14 purchases in
#: months 1–11 of the window (then again from 4), 15 vehicles of people from other provinces.
_PLATE_SLOTS, _PLATE_OUTSIDER = 16, 15
#: Property certificates: 0 home, 1–3 further homes, 4 commercial, 5–30 purchases, 31 outsiders.
_PROPERTY_SLOTS, _PROPERTY_OUTSIDER = 32, 31


def _outsider_items(
    ctx: PartContext, rng: np.random.Generator, items: int, share: float
) -> tuple[np.ndarray, np.ndarray]:
    """(owner, location household) of items owned by people from other provinces: owners are
    negative (-1 - outsider), households distinct so that serial numbers stay unique."""
    if ctx.outsiders == 0 or ctx.p.households == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    k = min(int(rng.binomial(items, share)), ctx.p.households)
    owner = -1 - rng.integers(0, ctx.outsiders, k)
    hh = np.sort(rng.choice(ctx.p.households, size=k, replace=False))
    return owner, hh


def credit_codes(prefix: np.ndarray, county_codes: np.ndarray, ident: np.ndarray) -> pa.Array:
    """Unified social credit codes (GB 32100-2015): 2-character registration kind (``92``
    individual, ``91`` company, ``93`` cooperative), 6-digit county, 9-character organisation
    code (GB 11714, with its check character) and the check character.

    ``prefix`` is an (N, 2) uint8 matrix, ``county_codes`` an (N, 6) one, ``ident`` unique ints.
    """
    n = len(ident)
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, :2] = prefix
    chars[:, 2:8] = county_codes
    chars[:, 8:16] = digits_matrix((np.asarray(ident) * 48_271 + 12_345_677) % 31**8, 8, _CREDIT_ALPHABET)
    body = chars[:, 8:16].astype(np.int64)
    value = np.where(body <= ord("9"), body - ord("0"), body - ord("A") + 10)
    c9 = 11 - (value * _ORG_WEIGHTS).sum(axis=1) % 11
    chars[:, 16] = np.where(c9 == 10, ord("X"), np.where(c9 == 11, ord("0"), ord("0") + c9 % 10))
    c18 = (31 - (_CREDIT_VALUE[chars[:, :17]] * _CREDIT_WEIGHTS).sum(axis=1) % 31) % 31
    chars[:, 17] = np.frombuffer(_CREDIT_ALPHABET, dtype=np.uint8)[c18]
    return fixed_ascii(chars)


class PartHoldings:
    """The snapshot kinds of one part: state drawn for the first month, then monthly changes."""

    def __init__(self, ctx: PartContext, age0: np.ndarray, public_pensioner: np.ndarray) -> None:
        # A weak reference: the context owns these holdings, and a reference cycle would keep
        # a finished part's arrays alive until the cyclic garbage collector happens to run.
        self.ctx: PartContext = weakref.proxy(ctx)
        first = ctx.months[0]
        self._init_vehicles(first)
        self._init_businesses(first, age0)
        self._init_properties(first)
        self._init_posts(age0, public_pensioner)

    def _other_province_rows(self, owner: np.ndarray) -> int:
        return int(np.count_nonzero(owner < 0))

    # --- vehicles ---------------------------------------------------------------------------------

    def _plates(self, hh: np.ndarray, slot: np.ndarray) -> pa.Array:
        ctx = self.ctx
        ident = (ctx.p.household_offset + hh) * _PLATE_SLOTS + slot
        modulus, width = 34**5, 5
        if ident.size and int(ident.max()) >= modulus:  # a very large province: six characters
            modulus, width = 34**6, 6
        code = digits_matrix((ident * 7_368_787 + 1_000_003) % modulus, width, _PLATE_ALPHABET)
        prefix = ctx.places.county_plate.take(pa.array(ctx.p.hh_county[hh]))
        return join(prefix, fixed_ascii(code))

    @staticmethod
    def _vehicle_price(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
        median = np.array([110_000.0, 150_000.0, 6_000.0, 12_000.0, 25_000.0, 50_000.0])[kind]
        price = lognormal_cents(rng, len(kind), median, 0.45)
        return (price // 10_000) * 10_000  # whole hundreds of yuan

    def _init_vehicles(self, first: Month) -> None:
        ctx = self.ctx
        p = ctx.p
        rng = ctx.rng(20, 0)
        h = p.households
        cars = p.hh_vehicles.copy()
        hidden = rng.random(h) < ctx.hidden_rate(
            HIDDEN_CAR_DIBAO, HIDDEN_CAR_TEKUN, HIDDEN_CAR_MARGINAL, HIDDEN_CAR_OTHER
        )
        cars += hidden & (cars == 0)
        bike = rng.random(h) < np.where(p.hh_urban, BIKE_URBAN, BIKE_RURAL)
        n_cars = int(cars.sum())
        out_owner, out_hh = _outsider_items(ctx, rng, n_cars, VEHICLE_OTHER_PROVINCE)
        hh = np.concatenate([np.repeat(np.arange(h), cars), np.flatnonzero(bike), out_hh])
        slot = np.concatenate(
            [
                np.arange(n_cars) - np.repeat(np.cumsum(cars) - cars, cars),
                np.full(int(bike.sum()), 3),
                np.full(len(out_hh), _PLATE_OUTSIDER),
            ]
        )
        is_bike = np.concatenate(
            [np.zeros(n_cars, bool), np.ones(int(bike.sum()), bool), np.zeros(len(out_hh), bool)]
        )
        k = len(hh)
        u = rng.random(k)
        # contract order: car, truck, motorcycle, tricycle, tractor, other
        kind = np.where(
            is_bike,
            np.where(p.hh_urban[hh] | (u < 0.7), 2, np.where(u < 0.9, 3, 4)),
            np.where(u < TRUCK_SHARE, 1, 0),
        )
        owner = ctx.adult_member(rng, hh, first.start, 0.7)
        owner[len(hh) - len(out_hh) :] = out_owner
        self.vehicles = Holdings.empty(
            hh=np.int64, owner=np.int64, kind=np.int64, slot=np.int64, register=np.int64, price=np.int64
        )
        self.vehicles.add(
            hh=hh, owner=owner, kind=kind, slot=slot, register=first.start - rng.integers(30, 15 * 365, k),
            price=self._vehicle_price(rng, kind),
        )  # fmt: skip

    def vehicles_table(self, month: Month) -> tuple[pa.Table, int]:
        ctx = self.ctx
        p = ctx.p
        rng = ctx.rng(21, month.index)
        v = self.vehicles
        if month.index > 0:
            v.active &= ~(rng.random(len(v)) < VEHICLE_REMOVAL_MONTHLY)
            buy_rate = np.where(p.hh_cat != 0, CAR_PURCHASE_REGISTERED_MONTHLY, CAR_PURCHASE_MONTHLY)
            hh = np.flatnonzero(rng.random(p.households) < buy_rate)
            kind = np.where(rng.random(len(hh)) < TRUCK_SHARE, 1, 0)
            v.add(
                hh=hh, owner=ctx.adult_member(rng, hh, month.start, 0.7), kind=kind,
                slot=np.full(len(hh), 4 + (month.index - 1) % 11), register=random_days(rng, month, len(hh)),
                price=self._vehicle_price(rng, kind),
            )  # fmt: skip
        rows = np.flatnonzero(v.active & (v["register"] <= month.end))
        rows = rows[ctx.in_scope(v["owner"][rows])]
        owner = v["owner"][rows]
        price_known = (v["slot"][rows] * 7 + v["hh"][rows]) % 10 != 0  # a tenth without a price
        cols = {
            "plate_no": self._plates(v["hh"][rows], v["slot"][rows]),
            "citizen_id": ctx.ids(owner),
            "name": ctx.person_names(owner),
            "vehicle_kind": codes(
                ("car", "truck", "motorcycle", "tricycle", "tractor", "other"), v["kind"][rows]
            ),
            "register_date": dates(v["register"][rows]),
            "purchase_price": money(v["price"][rows], price_known),
        }
        return contract_table(ctx.contracts["vehicle"], len(rows), cols), self._other_province_rows(owner)

    # --- market entities -------------------------------------------------------------------------

    @staticmethod
    def _capital(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
        median = np.array([30_000.0, 500_000.0, 200_000.0, 50_000.0])[kind]
        capital = lognormal_cents(rng, len(kind), median, 0.8)
        return (capital // 100_000) * 100_000 + 100_000  # whole thousands of yuan

    def _entity_kind(self, rng: np.random.Generator, hh: np.ndarray) -> np.ndarray:
        kind = rng.choice(4, size=len(hh), p=BUSINESS_KIND_P)
        return np.where((kind == 2) & self.ctx.p.hh_urban[hh], 0, kind)  # cooperatives are rural

    def _init_businesses(self, first: Month, age0: np.ndarray) -> None:
        ctx = self.ctx
        p = ctx.p
        rng = ctx.rng(30, 0)
        h = p.households
        # Declared in the registry (led by the head), hidden in registered households, and
        # run by adults of unregistered households.
        hidden = (
            rng.random(h) < ctx.hidden_rate(HIDDEN_BUSINESS_DIBAO, None, None, HIDDEN_BUSINESS_OTHER)
        ) & (p.hh_business == 0)
        adult = (age0 >= 18) & (age0 <= 70)
        extra = adult & ~ctx.registered & (rng.random(p.n) < BUSINESS_EXTRA_ADULT)
        extra[p.hh_start[p.hh_business > 0]] = False  # the head already leads the declared one
        extra = np.flatnonzero(extra)
        hh_declared = np.repeat(np.arange(h), p.hh_business)
        hh_hidden = np.flatnonzero(hidden)
        owner = np.concatenate(
            [p.hh_start[hh_declared], ctx.adult_member(rng, hh_hidden, first.start, 0.6), extra]
        )
        slot = np.concatenate(
            [
                np.arange(len(hh_declared))
                - np.repeat(np.cumsum(p.hh_business) - p.hh_business, p.hh_business),
                np.full(len(hh_hidden), 3),
                np.full(len(extra), 4),
            ]
        )
        ident = (p.person_offset + owner) * 32 + slot
        out_owner, out_hh = _outsider_items(ctx, rng, len(owner), PROPERTY_OTHER_PROVINCE)
        hh = np.concatenate([p.hh[owner], out_hh])
        owner = np.concatenate([owner, out_owner])
        ident = np.concatenate([ident, 10**10 + p.household_offset + out_hh])
        k = len(owner)
        kind = self._entity_kind(rng, hh)
        self.businesses = Holdings.empty(
            owner=np.int64, hh=np.int64, ident=np.int64, kind=np.int64, status=np.int64, register=np.int64,
            capital=np.int64, word=np.int64,
        )  # fmt: skip
        self.businesses.add(
            owner=owner, hh=hh, ident=ident, kind=kind, status=rng.choice(3, size=k, p=BUSINESS_STATUS_P),
            register=first.start - rng.integers(60, 20 * 365, k), capital=self._capital(rng, kind),
            word=rng.integers(0, 1 << 30, k),
        )  # fmt: skip

    def businesses_table(self, month: Month) -> tuple[pa.Table, int]:
        ctx = self.ctx
        p = ctx.p
        rng = ctx.rng(31, month.index)
        b = self.businesses
        if month.index > 0:
            cancel = b.active & (b["status"] == 0) & (rng.random(len(b)) < BUSINESS_CANCEL_MONTHLY)
            b["status"][cancel] = 2
            age = np.maximum(month.start - p.birth, 0) // 366
            rate = BUSINESS_NEW_MONTHLY * np.where(ctx.registered, 0.1, 1.0)
            owner = np.flatnonzero(ctx.alive & (age >= 18) & (age <= 70) & (rng.random(p.n) < rate))
            kind = self._entity_kind(rng, p.hh[owner])
            b.add(
                owner=owner, hh=p.hh[owner], ident=(p.person_offset + owner) * 32 + 5 + month.index % 24,
                kind=kind, status=np.zeros(len(owner), np.int64), register=random_days(rng, month, len(owner)),
                capital=self._capital(rng, kind), word=rng.integers(0, 1 << 30, len(owner)),
            )  # fmt: skip
        rows = np.flatnonzero(b.active & (b["register"] <= month.end))
        rows = rows[ctx.in_scope(b["owner"][rows])]
        owner = b["owner"][rows]
        hh = b["hh"][rows]
        kind = b["kind"][rows]
        word = b["word"][rows]
        nm = ctx.names
        places = ctx.places
        county = p.hh_county[hh]
        person_name = ctx.person_names(owner)
        given = pc.utf8_slice_codeunits(person_name, 1, 3)
        shop = join(
            places.township_names.take(pa.array(p.hh_township[hh])),
            given,
            nm.shop_words.take(pa.array(word % len(nm.shop_words))),
        )
        firm = join(
            "贵州",
            nm.firm_syllables.take(pa.array(word % len(nm.firm_syllables))),
            nm.firm_syllables.take(pa.array(word // 7 % len(nm.firm_syllables))),
            nm.firm_trades.take(pa.array(word // 131 % len(nm.firm_trades))),
            "有限公司",
        )
        coop = join(
            places.village_names.take(pa.array(p.hh_village[hh])),
            nm.coop_trades.take(pa.array(word % len(nm.coop_trades))),
            "农民专业合作社",
        )
        entity = pc.if_else(pa.array(kind == 1), firm, pc.if_else(pa.array(kind == 2), coop, shop))
        prefix = np.array([[57, 50], [57, 49], [57, 51], [57, 50]], dtype=np.uint8)[kind]  # 92 91 93 92
        county_chars = digits_matrix(
            np.asarray(
                places.county_codes.take(pa.array(county)).cast(pa.int64()).to_numpy(zero_copy_only=False)
            ),
            6,
        )
        cols = {
            "credit_code": credit_codes(prefix, county_chars, b["ident"][rows]),
            "citizen_id": ctx.ids(owner),
            "name": person_name,
            "entity_name": entity,
            "entity_kind": codes(("individual", "company", "cooperative", "other"), kind),
            "register_date": dates(b["register"][rows]),
            "registered_capital": money(b["capital"][rows]),
            "status": codes(("active", "revoked", "cancelled"), b["status"][rows]),
        }
        return contract_table(ctx.contracts["business"], len(rows), cols), self._other_province_rows(owner)

    # --- real estate ------------------------------------------------------------------------------

    @staticmethod
    def _area(rng: np.random.Generator, use: np.ndarray, urban: np.ndarray) -> np.ndarray:
        median = np.where(urban, 95.0, 160.0)
        median = np.where(use == 1, 60.0, np.where(use == 2, 120.0, np.where(use == 3, 800.0, median)))
        return lognormal_cents(rng, len(use), median, 0.3)  # m² in hundredths

    def _init_properties(self, first: Month) -> None:
        ctx = self.ctx
        p = ctx.p
        rng = ctx.rng(40, 0)
        h = p.households
        home = rng.random(h) < np.where(p.hh_urban, HOME_URBAN, HOME_RURAL)
        hidden_home = rng.random(h) < ctx.hidden_rate(HIDDEN_HOME_DIBAO, None, None, HIDDEN_HOME_OTHER)
        extra = np.minimum(p.hh_extra_housing, 3) + (hidden_home & (p.hh_extra_housing == 0))
        factor = np.where(p.hh_urban, 1.0, 0.25)
        u = rng.random(h)
        c1 = COMMERCIAL_URBAN * factor
        c2 = c1 + OFFICE_URBAN * factor
        c3 = c2 + INDUSTRIAL_URBAN * factor
        commercial = np.where(
            p.hh_cat == 0,
            np.select([u < c1, u < c2, u < c3], [1, 2, 3], default=0),
            np.where(u < HIDDEN_COMMERCIAL, 1, 0),
        )
        n_home, n_extra, n_comm = int(home.sum()), int(extra.sum()), int((commercial > 0).sum())
        out_owner, out_hh = _outsider_items(ctx, rng, n_home + n_extra + n_comm, PROPERTY_OTHER_PROVINCE)
        hh = np.concatenate(
            [np.flatnonzero(home), np.repeat(np.arange(h), extra), np.flatnonzero(commercial > 0), out_hh]
        )
        use = np.concatenate(
            [
                np.zeros(n_home + n_extra, np.int64),
                commercial[commercial > 0],
                np.zeros(len(out_hh), np.int64),
            ]
        )
        slot = np.concatenate(
            [
                np.zeros(n_home, np.int64),
                1 + np.arange(n_extra) - np.repeat(np.cumsum(extra) - extra, extra),
                np.full(n_comm, 4),
                np.full(len(out_hh), _PROPERTY_OUTSIDER),
            ]
        )
        owner = np.concatenate([p.hh_start[hh[: len(hh) - len(out_hh)]], out_owner])
        k = len(hh)
        register = first.start - np.where(
            p.hh_urban[hh], rng.integers(200, 20 * 365, k), rng.integers(700, 9 * 365, k)
        )
        self.properties = Holdings.empty(
            hh=np.int64,
            owner=np.int64,
            slot=np.int64,
            use=np.int64,
            register=np.int64,
            area=np.int64,
            co=np.bool_,
        )
        self.properties.add(
            hh=hh, owner=owner, slot=slot, use=use, register=register, area=self._area(rng, use, p.hh_urban[hh]),
            co=(rng.random(k) < CO_OWNER_SHARE) & (use == 0) & (owner >= 0),
        )  # fmt: skip

    def properties_table(self, month: Month) -> tuple[pa.Table, int]:
        ctx = self.ctx
        p = ctx.p
        rng = ctx.rng(41, month.index)
        e = self.properties
        if month.index > 0:
            e.active &= ~(rng.random(len(e)) < PROPERTY_SALE_MONTHLY)
            rate = PROPERTY_PURCHASE_MONTHLY * np.where(p.hh_cat != 0, 0.1, 1.0)
            hh = np.flatnonzero(rng.random(p.households) < rate)
            use = np.zeros(len(hh), np.int64)
            e.add(
                hh=hh, owner=p.hh_start[hh], slot=np.full(len(hh), 5 + (month.index - 1) % 26), use=use,
                register=random_days(rng, month, len(hh)), area=self._area(rng, use, p.hh_urban[hh]),
                co=rng.random(len(hh)) < CO_OWNER_SHARE,
            )  # fmt: skip
        items = np.flatnonzero(e.active & (e["register"] <= month.end))
        owner = e["owner"][items]
        # The co-owner: the owner's spouse (persons of a household are contiguous, the head
        # first; when the head has a spouse in the household, the spouse is member 2).
        second = np.minimum(np.maximum(owner, 0) + 1, max(p.n - 1, 0))
        hh = e["hh"][items]
        has_co = e["co"][items] & (owner >= 0) & (p.hh_size[hh] > 1)
        if p.n:
            has_co &= p.spouse[second]
        item = np.concatenate([items, items[has_co]])
        owner = np.concatenate([owner, second[has_co]])
        order = np.argsort(item, kind="stable")
        item, owner = item[order], owner[order]
        keep = ctx.in_scope(owner)
        item, owner = item[keep], owner[keep]
        hh = e["hh"][item]
        register = e["register"][item]
        year = register.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
        ident = (p.household_offset + hh) * _PROPERTY_SLOTS + e["slot"][item]
        serial = (ident * 7_654_321 + 2_345_679) % 10**7
        cert = join(
            "黔(",
            fixed_ascii(digits_matrix(year, 4)),
            ")",
            ctx.places.county_names.take(pa.array(p.hh_county[hh])),
            "不动产权第",
            fixed_ascii(digits_matrix(serial, 7)),
            "号",
        )
        cols = {
            "certificate_no": cert,
            "citizen_id": ctx.ids(owner),
            "name": ctx.person_names(owner),
            "division_code": ctx.places.township_codes.take(pa.array(p.hh_township[hh])),
            "use": codes(("residential", "commercial", "office", "industrial", "other"), e["use"][item]),
            "area_m2": money(e["area"][item]),
            "register_date": dates(register),
        }
        return contract_table(ctx.contracts["real_estate"], len(item), cols), self._other_province_rows(owner)

    # --- public payroll ---------------------------------------------------------------------------

    def _employer(self, rng: np.random.Generator, person: np.ndarray, staffing: np.ndarray) -> np.ndarray:
        """Index into county employers (≥ 0) or, negative, township employers (−1 − index)."""
        ctx = self.ctx
        k = len(person)
        at_county = (rng.random(k) < 0.6) | (staffing == 3)
        c_idx = rng.integers(0, len(COUNTY_EMPLOYERS), k) * ctx.places.counties + ctx.county[person]
        t_idx = rng.integers(0, len(TOWNSHIP_EMPLOYERS), k) * ctx.places.townships + ctx.township[person]
        return np.where(at_county, c_idx, -1 - t_idx)

    @staticmethod
    def _pay(rng: np.random.Generator, staffing: np.ndarray) -> np.ndarray:
        pay = lognormal_cents(rng, len(staffing), PAY_MEDIAN_YUAN[staffing], 0.2)
        return (pay // 100) * 100

    def _init_posts(self, age0: np.ndarray, public_pensioner: np.ndarray) -> None:
        ctx = self.ctx
        p = ctx.p
        rng = ctx.rng(50, 0)
        n = p.n
        factor = np.where(ctx.urban, 1.5, 0.6)
        eligible = ~ctx.registered & (age0 >= 22) & (age0 < 60) & (p.employment == E_EMPLOYED)
        staff = eligible & (rng.random(n) < PUBLIC_EMPLOYEE_SHARE * factor)
        # A random able member of working age in each registered household that has one
        able = (age0 >= 20) & (age0 < 60) & ~np.isin(p.employment, (E_STUDENT, E_UNABLE))
        key = np.where(able, rng.random(n), -1.0)
        best = np.maximum.reduceat(key, p.hh_start) if n else np.zeros(0)
        pick = able & (key == best[p.hh])
        chosen_hh = rng.random(p.households) < ctx.hidden_rate(
            HIDDEN_PUBLIC_DIBAO, None, None, HIDDEN_PUBLIC_OTHER
        )
        hidden = pick & chosen_hh[p.hh]
        retired = public_pensioner & ~ctx.registered
        person = np.flatnonzero(staff | hidden | retired)
        k = len(person)
        staffing = np.where(
            retired[person],
            3,
            np.where(
                hidden[person],
                rng.choice(3, size=k, p=STAFFING_HIDDEN_P),
                rng.choice(3, size=k, p=STAFFING_P),
            ),
        )
        self.posts = Holdings.empty(person=np.int64, staffing=np.int64, employer=np.int64, pay=np.int64)
        self.posts.add(
            person=person,
            staffing=staffing,
            employer=self._employer(rng, person, staffing),
            pay=self._pay(rng, staffing),
        )

    def posts_table(self, month: Month, present: np.ndarray) -> tuple[pa.Table, int]:
        ctx = self.ctx
        p = ctx.p
        rng = ctx.rng(51, month.index)
        e = self.posts
        e.active &= ctx.alive[e["person"]]
        if month.index > 0:
            e.active &= ~((e["staffing"] != 3) & (rng.random(len(e)) < PUBLIC_LEAVE_MONTHLY))
            if month.month in (7, 8, 9):  # the recruitment season
                age = np.maximum(month.start - p.birth, 0) // 366
                on_roll = np.zeros(p.n, dtype=bool)
                on_roll[e["person"][e.active]] = True
                cand = (
                    present
                    & ~on_roll
                    & ~ctx.registered
                    & (age >= 22)
                    & (age < 35)
                    & (p.employment == E_EMPLOYED)
                )
                hire = np.flatnonzero(cand & (rng.random(p.n) < PUBLIC_HIRE_MONTHLY * 3))
                staffing = rng.choice(3, size=len(hire), p=STAFFING_P)
                e.add(
                    person=hire,
                    staffing=staffing,
                    employer=self._employer(rng, hire, staffing),
                    pay=self._pay(rng, staffing),
                )
        rows = np.flatnonzero(e.active)
        rows = rows[ctx.in_scope(e["person"][rows])]
        person = e["person"][rows]
        employer_idx = e["employer"][rows]
        nm = ctx.names
        employer = pc.if_else(
            pa.array(employer_idx >= 0),
            nm.county_employers.take(pa.array(np.maximum(employer_idx, 0))),
            nm.township_employers.take(pa.array(np.maximum(-1 - employer_idx, 0))),
        )
        cols = {
            "citizen_id": ctx.ids(person),
            "name": ctx.person_names(person),
            "employer": employer,
            "staffing": codes(("civil_servant", "institution", "contract", "retired"), e["staffing"][rows]),
            "monthly_pay": money(e["pay"][rows]),
        }
        return contract_table(ctx.contracts["public_employee"], len(rows), cols), 0
