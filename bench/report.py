"""Results: one row per measurement, printed as a table, written as JSON and drawn as a chart."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PASS, FAIL, INFO, SKIPPED = "pass", "fail", "info", "skipped"


@dataclass(frozen=True)
class Target:
    """`value OP bound` on the measurement itself ("value") or on measurement / baseline ("ratio")."""

    on: str  # "value" | "ratio"
    op: str  # ">=" | "<="
    bound: float

    def met(self, value: float, ratio: float | None) -> bool | None:
        subject = value if self.on == "value" else ratio
        if subject is None:
            return None
        return subject >= self.bound if self.op == ">=" else subject <= self.bound

    def describe(self, unit: str) -> str:
        if self.on == "ratio":
            return f"{self.op} {self.bound:g}x"
        return f"{self.op} {self.bound:g} {unit}"


@dataclass
class Row:
    key: str  # stable identifier, the JSON's and the tests' handle
    name: str
    unit: str
    value: float | None = None
    baseline: float | None = None
    baseline_name: str = ""
    target: Target | None = None
    note: str = ""  # why skipped, or what the numbers are made of
    extra: dict = field(default_factory=dict)  # p50/p99 and other detail
    status: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def settle(self) -> Row:
        if self.value is None:
            self.status = SKIPPED
        elif self.target is None:
            self.status = INFO
        else:
            met = self.target.met(self.value, self.ratio)
            self.status = SKIPPED if met is None else (PASS if met else FAIL)
        return self

    def as_json(self) -> dict:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["target"] = None if self.target is None else {**asdict(self.target), "text": self.target.describe(self.unit)}
        return data


def skipped(key: str, name: str, unit: str, why: str, target: Target | None = None) -> Row:
    return Row(key=key, name=name, unit=unit, target=target, note=f"skipped: {why}")


def number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


COLUMNS = ("measurement", "value", "baseline", "ratio", "target", "result")


def table_rows(rows: list[Row]) -> list[tuple[str, ...]]:
    out = []
    for row in rows:
        baseline = number(row.baseline, row.unit)
        if row.baseline is not None and row.baseline_name:
            baseline = f"{baseline} ({row.baseline_name})"
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        target = "-" if row.target is None else row.target.describe(row.unit)
        result = row.status.upper() if row.status in (PASS, FAIL) else row.status
        if row.note and row.status == SKIPPED:
            result = row.note
        out.append((row.name, number(row.value, row.unit), baseline, ratio, target, result))
    return out


def format_table(rows: list[Row]) -> str:
    cells = [COLUMNS, *table_rows(rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = []
    for n, line in enumerate(cells):
        lines.append("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def format_markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in table_rows(rows)]
    return "\n".join(lines)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
    }


def describe_machine(info: dict) -> str:
    return (
        f"{info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB RAM, "
        f"{info['os']}, Python {info['python']}"
    )


def write_json(path: Path, rows: list[Row], *, smoke: bool, seconds: float, tools: dict) -> None:
    data = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "smoke" if smoke else "full",
        "duration_s": round(seconds, 1),
        "machine": machine(),
        "tools": tools,
        "results": [row.as_json() for row in rows],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def draw_chart(path: Path, rows: list[Row], *, title: str) -> None:
    """Horizontal bars of measurement / baseline, with each ratio target marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    shown = [r for r in rows if r.ratio is not None]
    labels = [r.name for r in shown]
    ratios = [r.ratio for r in shown]
    colors = [{PASS: "#2e7d32", FAIL: "#c62828"}.get(r.status, "#757575") for r in shown]
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(shown) + 1.8), dpi=100)
    y = list(range(len(shown)))[::-1]
    ax.set_xscale("log")  # ratios run from a tenth to tens: a log axis keeps 0.5x and 2x equally far from 1x
    ax.barh(y, ratios, color=colors, height=0.6, left=0.01)
    for yi, row in zip(y, shown, strict=True):
        label = f" {row.ratio:.2f}x"
        if row.target is not None and row.target.on == "value":
            label += f"  ({number(row.value, row.unit)}; target {row.target.describe(row.unit)})"
        if row.target is not None and row.target.on == "ratio":
            ax.plot([row.target.bound] * 2, [yi - 0.42, yi + 0.42], color="black", linewidth=2)
            label += f"  (target {row.target.describe(row.unit)})"
        right = max(row.ratio, row.target.bound if row.target and row.target.on == "ratio" else 0)
        ax.text(right * 1.05, yi, label, va="center", fontsize=8)
    ax.axvline(1.0, color="#9e9e9e", linestyle=":", linewidth=1)
    ax.set_yticks(y, labels, fontsize=8)
    ticks = [0.1, 0.25, 0.5, 1, 2, 4, 10, 25, 50]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.set_xlim(0.05, max([*ratios, 4]) * 12)
    ax.set_xlabel("measurement / its baseline, same run (| = ratio target)", fontsize=9)
    ax.set_title(title, fontsize=9)
    handles = [Patch(color=c, label=t) for c, t in (("#2e7d32", "target met"), ("#c62828", "target missed"),
                                                      ("#757575", "no target"))]
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
