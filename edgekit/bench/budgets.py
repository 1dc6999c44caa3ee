"""PASS/FAIL of one measured artifact against its target's budgets."""

from __future__ import annotations


def check_budgets(result: dict, deploy: dict, target: dict) -> list[dict]:
    b = target["budgets"]
    checks = []

    def add(name, value, limit, ok, unit=""):
        checks.append({"check": name, "value": value, "limit": limit, "unit": unit, "passed": bool(ok)})

    if "micro" in result:
        ram = target["hardware"].get("ram_kb")
        flash = target["hardware"].get("flash_kb")
        arena = result["micro"]["arena_bytes"]
        if ram and arena is not None:
            add("tensor arena", arena, ram * 1024, arena <= ram * 1024, "B")
        if flash:
            add("flash", result["micro"]["flash_bytes"], flash * 1024, result["micro"]["flash_bytes"] <= flash * 1024, "B")
    else:
        add("latency p90", result["latency_ms"]["p90"], b["latency_p90_ms"], result["latency_ms"]["p90"] <= b["latency_p90_ms"], "ms")
        add("peak memory", result["peak_rss_mb"], b["max_memory_mb"], result["peak_rss_mb"] <= b["max_memory_mb"], "MiB")
    if "accuracy" in result:
        add("accuracy", result["accuracy"], b["min_accuracy"], result["accuracy"] >= b["min_accuracy"])
        floor = b["min_int8_agreement"] if deploy["artifact"]["precision"] in ("int8", "dynamic") else 0.99
        add("agreement with host reference", result["agreement"], floor, result["agreement"] >= floor)
    return checks
