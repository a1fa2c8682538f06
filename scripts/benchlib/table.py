"""The table at the end: one column per run, one row per measure, and how many times better stixgate is than
medallion when exactly those two ran."""

# (phase, what, key, how): "rate" is better higher, "cost" better lower; ratios say how many times better stixgate is.
ROWS = [
    ("load", "objects", "objects", None),
    ("load", "nodes", "nodes", None),
    ("load", "objects/s", "objects_per_s", "rate"),
    ("load", "POST p50 ms", "p50_ms", "cost"),
    ("load", "POST p99 ms", "p99_ms", "cost"),
    ("load", "server RSS MiB", "rss_kib", "cost"),
    ("page", "objects/s", "objects_per_s", "rate"),
    ("page", "page p50 ms", "p50_ms", "cost"),
    ("page", "page p99 ms", "p99_ms", "cost"),
    ("page", "all objects once", "ok", None),
    ("page", "server RSS MiB", "rss_kib", "cost"),
    ("concurrent", "clients", "clients", None),
    ("concurrent", "positions", "position_kind", None),
    ("concurrent", "requests/s", "requests_per_s", "rate"),
    ("concurrent", "objects/s", "objects_per_s", "rate"),
    ("concurrent", "p50 ms", "p50_ms", "cost"),
    ("concurrent", "p99 ms", "p99_ms", "cost"),
    ("concurrent", "errors", "errors", None),
    ("concurrent", "unfinished", "unfinished", None),
]


def show(value, key):
    """One cell: memory in MiB, large numbers without decimals, a failed check as NO."""
    if value is None:
        return "-"
    if key == "rss_kib":
        value = value / 1024
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def ratio(ours, theirs, how):
    """How many times better stixgate's value is than medallion's; empty when there is nothing to compare."""
    if how is None or ours is None or theirs is None:
        return ""
    better, worse = (ours, theirs) if how == "rate" else (theirs, ours)
    if worse == 0:
        return "inf" if better > 0 else ""
    return f"{better / worse:,.1f}x"


def print_table(columns, results):
    """Prints the table of columns (runs, in their order) from results (column -> phase -> RESULT)."""
    results = {column: results.get(column, {}) for column in columns}
    compared = set(columns) == {"stixgate", "medallion"}
    header = ["phase", "metric"] + columns + (["stixgate advantage"] if compared else [])
    # Memory depends on how much is stored: comparing it makes sense only at the same number of objects.
    same_size = len({results[column].get("load", {}).get("objects") for column in columns}) == 1
    lines = [header]
    for phase, what, key, how in ROWS:
        if key == "rss_kib" and not same_size:
            how = None
        values = [results[column].get(phase, {}).get(key) for column in columns]
        line = [phase, what] + [show(value, key) for value in values]
        if compared:
            line.append(ratio(results["stixgate"].get(phase, {}).get(key),
                              results["medallion"].get(phase, {}).get(key), how))
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    print("== side by side (advantage: how many times better stixgate is; above 1 means stixgate is better)")
    for number, line in enumerate(lines):
        print("  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                        for i, (cell, width) in enumerate(zip(line, widths))))
        if number == 0:
            print("  ".join("-" * width for width in widths))
