"""Decode benchmark frames with the official Kite Connect client, for the side-by-side ratio.

Usage: pyk_decode.py MANIFEST.json
MANIFEST: [{"kind": "full", "count": 100, "hex": "..."}, ...] (written by
`feedgate-bench decode`). For each frame, times `KiteTicker._parse_binary` with `timeit`
(auto-ranged loop count, 7 repeats) and prints one JSON list to stdout:
[{"kind", "count", "ns_per_packet": median, "repeats": [...]}, ...].
"""

import json
import statistics
import sys
import timeit

from kiteconnect import KiteTicker

REPEATS = 7


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    ticker = KiteTicker("feedgate-bench", "feedgate-bench")
    parse = ticker._parse_binary  # the official decoder, as on_message uses it
    out = []
    for case in cases:
        frame = bytes.fromhex(case["hex"])
        decoded = parse(frame)
        if len(decoded) != case["count"]:
            print(f"pyK decoded {len(decoded)} packets of {case['count']}", file=sys.stderr)
            return 1
        timer = timeit.Timer(lambda: parse(frame))
        number, _ = timer.autorange()
        # autorange targets >= 0.2 s per repeat; halve it to keep the whole run short.
        number = max(1, number // 2)
        runs = timer.repeat(repeat=REPEATS, number=number)
        per_packet = [r / number / case["count"] * 1e9 for r in runs]
        out.append(
            {
                "kind": case["kind"],
                "count": case["count"],
                "ns_per_packet": statistics.median(per_packet),
                "repeats": per_packet,
            }
        )
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
