"""Checks after slither (run by scripts/slither with the .venv/security interpreter).

1. Coverage: slither must see every public/external function of the four medledger contracts, inherited
   ones included. Libraries reached through two different import paths make slither drop inherited
   functions silently; then the detectors would pass on code they never looked at. The reference is the
   ABI forge wrote for the same build.
2. Summary: the detector findings of slither's JSON report, counted by impact; high and medium listed.

Usage: python scripts/slither-check.py OUT_DIR REPORT_JSON
"""

import collections
import json
import sys

from slither import Slither

CONTRACTS = ["CredentialRegistry", "ConsentRegistry", "RecordAnchors", "Prescriptions", "AccessLogAnchors"]


def abi_type(param):
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in param["components"]) + ")" + kind[len("tuple"):]
    return kind


def abi_signatures(out_dir, name):
    with open(f"{out_dir}/{name}.sol/{name}.json", encoding="utf-8") as f:
        abi = json.load(f)["abi"]
    return {
        e["name"] + "(" + ",".join(abi_type(i) for i in e["inputs"]) + ")"
        for e in abi
        if e["type"] == "function"
    }


def main():
    out_dir, report = sys.argv[1], sys.argv[2]
    failed = False

    slither = Slither(
        ".",
        compile_force_framework="foundry",
        foundry_ignore_compile=True,
        ignore_compile=True,
        foundry_out_directory=out_dir,
    )
    total = 0
    for name in CONTRACTS:
        candidates = [
            c
            for c in slither.get_contract_from_name(name)
            if c.source_mapping.filename.relative.startswith("contracts/src/")
        ]
        if len(candidates) != 1:
            print(f"slither-check: {name}: {len(candidates)} definitions under contracts/src (want 1)")
            failed = True
            continue
        contract = candidates[0]
        seen = {
            f.solidity_signature
            for f in contract.functions
            if f.visibility in ("public", "external") and not f.is_constructor
        }
        seen |= {v.solidity_signature for v in contract.state_variables if v.visibility == "public"}
        want = abi_signatures(out_dir, name)
        missing = sorted(want - seen)
        total += len(want) - len(missing)
        if missing:
            print(f"slither-check: {name}: slither does not see {len(missing)} ABI functions: {missing}")
            failed = True
        else:
            print(f"slither-check: {name}: all {len(want)} ABI functions analysed")

    with open(report, encoding="utf-8") as f:
        results = json.load(f).get("results", {}).get("detectors", [])
    by_impact = collections.Counter(r["impact"] for r in results)
    print(
        "slither-check: findings by impact: "
        + ", ".join(f"{k} {by_impact.get(k, 0)}" for k in ["High", "Medium", "Low", "Informational", "Optimization"])
    )
    for r in results:
        if r["impact"] in ("High", "Medium"):
            print(f"  [{r['impact']}] {r['check']}: {r['description'].strip()}")
            failed = True
    print(f"slither-check: {total} functions of {len(CONTRACTS)} contracts analysed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
