"""Benchmark of the synthetic province: generation, registry roster, roster CSV.

Each size runs in its own process so that its peak RSS is its own:

    python bench/bench_synthetic.py                       # 100k, 1M and 5M persons
    python bench/bench_synthetic.py --persons 5000000 --roster 1000000
    /usr/bin/time -v python bench/bench_synthetic.py --one 5000000   # one size in this process

Prints one line per size: generation seconds and peak RSS, file sizes, and (with
``--roster N``) the seconds to cut an N-person roster with DuckDB and to write it as a GBK
CSV with a title row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AS_OF = dt.date(2026, 10, 31)


def run_one(persons: int, seed: int, out: Path, roster: int | None) -> dict[str, object]:
    from doudi.registry.synthetic import generate_province, registry_roster, write_roster

    t0 = time.perf_counter()
    province = generate_province(persons=persons, seed=seed, out_dir=out, as_of=AS_OF)
    result: dict[str, object] = {
        "persons": province.persons,
        "households": province.households,
        "registry_persons": province.registry_persons,
        "generate_s": round(time.perf_counter() - t0, 2),
        "generate_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "persons_parquet_mb": round(province.persons_path.stat().st_size / 2**20, 1),
        "households_parquet_mb": round(province.households_path.stat().st_size / 2**20, 1),
    }
    if roster is not None:
        t1 = time.perf_counter()
        table = registry_roster(province, limit_persons=roster if roster > 0 else None)
        result["roster_rows"] = table.num_rows
        result["roster_s"] = round(time.perf_counter() - t1, 2)
        t2 = time.perf_counter()
        write_roster(table, out / "roster_gbk.csv", encoding="gbk", with_title=True)
        result["write_gbk_s"] = round(time.perf_counter() - t2, 2)
        t3 = time.perf_counter()
        write_roster(table, out / "roster_utf8.csv")
        result["write_utf8_s"] = round(time.perf_counter() - t3, 2)
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, nargs="*", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--roster", type=int, default=None, help="also cut and write a roster (0 = whole registry)"
    )
    parser.add_argument("--out", type=Path, default=None, help="keep the files here (default: a temp dir)")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one is not None:
        with tempfile.TemporaryDirectory(prefix="doudi-bench-") as tmp:
            out = args.out or Path(tmp)
            print(json.dumps(run_one(args.one, args.seed, out, args.roster)))
        return
    for persons in args.persons:
        cmd = [sys.executable, __file__, "--one", str(persons), "--seed", str(args.seed)]
        if args.roster is not None:
            cmd += ["--roster", str(args.roster)]
        if args.out is not None:
            cmd += ["--out", str(args.out / str(persons))]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
