"""Numbers as OSRS players write them: counts, XP ("15M") and prices ("1.65b")."""

from __future__ import annotations


def fmt_int(value: object) -> str:
    """1234567 → "1,234,567"; anything but an int → "?"."""
    if not isinstance(value, int):
        return "?"
    try:
        return f"{value:,}"
    except ValueError:  # more digits than Python will print
        return "?"


def fmt_xp(value: int) -> str:
    """25_000_000 → "25M", 1_500_000_000 → "1.5B", 12_750_000 → "12.75M": how players say XP
    milestones (and how the achievement titles say them: "4.8B Overall XP")."""
    try:
        for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
            if value >= size:
                text = f"{value / size:.2f}".rstrip("0").rstrip(".")
                return f"{text}{suffix}"
    except OverflowError:
        return fmt_int(value)
    return fmt_int(value)


# -- prices ------------------------------------------------------------------------------------

_GP_UNITS = ((1_000, "k"), (1_000_000, "m"), (1_000_000_000, "b"))


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def _gp_short(n: int) -> tuple[str, bool]:
    """(text, exact) for n ≥ 1,000: three significant digits at most, rounded half up."""
    unit = max(i for i, (size, _) in enumerate(_GP_UNITS) if n >= size)
    size, suffix = _GP_UNITS[unit]
    decimals = max(0, 3 - len(str(n // size)))
    scaled = _round_half_up(n * 10**decimals, size)
    if scaled >= 1_000 * 10**decimals and unit + 1 < len(_GP_UNITS):  # 999,950 is "1m"
        size, suffix = _GP_UNITS[unit + 1]
        decimals = 2
        scaled = _round_half_up(n * 100, size)
    whole, frac = divmod(scaled, 10**decimals)
    text = f"{whole:,}"
    if decimals and frac:
        text += "." + str(frac).zfill(decimals).rstrip("0")
    return text + suffix, scaled * size == n * 10**decimals


def fmt_gp(value: object) -> str:
    """A price as players write it: 1_650_000_000 → "1.65b", 950_000 → "950k",
    12_345_678 → "12.3m", 950 → "950 gp". Three significant digits at most, so the figure may be
    rounded: :func:`price_text` adds the exact one when it is. Anything but an int → "?"."""
    if not isinstance(value, int) or isinstance(value, bool):
        return "?"
    sign, n = ("-", -value) if value < 0 else ("", value)
    if n < 1_000:
        return f"{sign}{n} gp"
    return sign + _gp_short(n)[0]


def gp_is_exact(value: object) -> bool:
    """Whether :func:`fmt_gp` shows ``value`` unrounded ("1.65b" is exactly 1,650,000,000)."""
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) < 1_000:
        return True
    return _gp_short(abs(value))[1]


def gp_exact(value: object) -> str:
    """The exact figure: 1_234_567 → "1,234,567 gp"."""
    return f"{fmt_int(value)} gp"


def price_text(value: object) -> str:
    """A price as players write it, with the exact figure when that is rounded:
    1_650_000_000 → "1.65b"; 1_234_567 → "1.23m (1,234,567 gp)"."""
    short = fmt_gp(value)
    if gp_is_exact(value) or short == "?":
        return short
    return f"{short} ({gp_exact(value)})"


def fmt_pct(value: float) -> str:
    return f"{abs(value):.1f}%"
