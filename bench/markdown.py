"""`python -m bench.markdown [results.json]`: the last run's table as Markdown, for the README."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.report import Row, Target, describe_machine, format_markdown


def rows_from_json(data: dict) -> list[Row]:
    rows = []
    for item in data["results"]:
        target = item["target"]
        rows.append(
            Row(
                key=item["key"],
                name=item["name"],
                unit=item["unit"],
                value=item["value"],
                baseline=item["baseline"],
                baseline_name=item["baseline_name"],
                target=None if target is None else Target(target["on"], target["op"], target["bound"]),
                note=item["note"],
                status=item["status"],
            )
        )
    return rows


def main(path: Path) -> None:
    data = json.loads(path.read_text())
    print(format_markdown(rows_from_json(data)))
    print()
    print(
        f"{data['mode'].capitalize()} run of {data['generated_at']}, {data['duration_s']:.0f} s, on "
        f"{describe_machine(data['machine'])}; load generator: {data['tools'].get('load_generator', '-')}."
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("results.json"))
