"""Reason codes: exact TreeSHAP contributions grouped by signal family, written in words.

A family's contribution is the sum of its features' contributions (so the groups still add up to
the raw score with the bias). The top families that push risk *up* by more than the reason floor
(`scoring.reason_floor`, log-odds) become the reasons, each worded by the template of its
strongest feature with the customer's value filled in; fewer than three may clear the floor, and
the rest stay empty. The family that pushes risk *down* the most, beyond the same floor, is the
protective factor. Ties break by family order, then feature order, so the same input always
gives the same reasons.

Reason 1 also gets a direction for choosing an action: whether its strongest feature's value is
"high" or "low" against that feature's median on the model's reference rows (the latest training
cutoff), "none" when the value is missing (the event did not happen in the lookback: its own
case, not a low or high number), and None for categorical features or when no reason clears
the floor.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.config import Config
from features.registry import FAMILY_MODULES, Wording, feature_family, feature_wording
from models.reference import HIGH, LOW, auto_reason_floor, typical_value

if TYPE_CHECKING:
    from models.bundle import ModelBundle

log = logging.getLogger(__name__)

TOP_REASONS = 3
# Family order for tie-breaking: the registry's module order, then anything else alphabetically.
FAMILY_ORDER = tuple(module.rsplit(".", 1)[-1] for module in FAMILY_MODULES)
# The floor for bundles trained before the auto floor was stored (reference.json without
# "reason_floor"): 0.05 log-odds, a family that moves the customer's odds of churning by less
# than 5% is not a reason. On the synthetic demo it is close to what "auto" derives (0.044).
FALLBACK_REASON_FLOOR = 0.05
DEFAULT_CURRENCY = "USD"
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
NONE = "none"  # the direction of a missing value

_PLACEHOLDER = re.compile(r"\{(\w+)(?::([^}]*))?\}")
_ONLY = re.compile(r"\bonly ")
_KNOWN = frozenset({"value", "n", "money", "days_ago", "label", "lookback"})


def resolve_floor(setting: float | str, reference: dict | None) -> float:
    """The reason floor in log-odds: the configured number, or for "auto" the one derived when
    the model was trained (`models.reference.auto_reason_floor`), or `FALLBACK_REASON_FLOOR`
    for a model trained before it was stored."""
    if setting != "auto":
        return float(setting)
    derived = auto_reason_floor(reference or {})
    if derived is None:
        log.warning(
            "model reference has no auto reason floor (trained before it was stored); using "
            "%s log-odds — retrain, or set scoring.reason_floor",
            FALLBACK_REASON_FLOOR,
        )
        return FALLBACK_REASON_FLOOR
    return derived


def floor_words(setting: float | str, reference: dict | None) -> str:
    """The reason floor in use and where it comes from, for the model cards."""
    if setting != "auto":
        return f"{float(setting):.4f} log-odds (set in scoring.reason_floor)"
    stored = (reference or {}).get("reason_floor")
    if auto_reason_floor(reference or {}) is None:
        return (
            f"{FALLBACK_REASON_FLOOR:.4f} log-odds (the fallback: the model was trained before "
            "the auto floor was stored)"
        )
    return (
        f"{stored['auto']:.4f} log-odds (auto: {stored['rule']}, {stored['raw_score_std']:.4f}, "
        f"on the {stored['rows']:,} reference rows)"
    )


@dataclass(frozen=True)
class ReasonBook:
    """Per feature: its family index, its wording and its typical value; per family: its name;
    and the floor a family's contribution must clear to be a reason. Built once per job."""

    names: list[str]
    families: list[str]
    feature_family_index: np.ndarray  # (features,) index into `families`
    wordings: list[Wording]
    categorical: frozenset[str]
    floor: float = FALLBACK_REASON_FLOOR
    # Median on the reference rows (NaN when unknown) and the direction of a value equal to it.
    medians: np.ndarray | None = None
    at_median: tuple[str, ...] = ()
    currency: str = DEFAULT_CURRENCY
    lookback_days: int = 365

    @classmethod
    def build(
        cls,
        names: list[str],
        cfg: Config,
        categorical: list[str] | None = None,
        reference: dict | None = None,
    ):
        """Look up each feature's family and wording in the registry; the floor and the typical
        values come from the model's `reference` (its reference.json)."""
        profile = cfg.features.profile_columns
        by_feature = [feature_family(name, profile) for name in names]
        present = set(by_feature)
        families = [f for f in FAMILY_ORDER if f in present]
        families += sorted(present - set(FAMILY_ORDER))
        index = np.array([families.index(f) for f in by_feature], dtype=np.int64)
        wordings = [feature_wording(name, profile) for name in names]
        for name, wording in zip(names, wordings, strict=True):
            _check_template(name, wording)
        entries = (reference or {}).get("features", {})
        typical = [typical_value(entries.get(name, {})) for name in names]
        return cls(
            names,
            families,
            index,
            wordings,
            frozenset(categorical or []),
            floor=resolve_floor(cfg.scoring.reason_floor, reference),
            medians=np.array([median for median, _ in typical], dtype=np.float64),
            at_median=tuple(tie for _, tie in typical),
            currency=cfg.decisions.currency,
            lookback_days=cfg.snapshots.lookback_days,
        )

    @classmethod
    def for_bundle(cls, bundle: ModelBundle, cfg: Config) -> ReasonBook:
        """The book for a loaded model: its features, categories, floor and typical values."""
        spec = bundle.spec
        return cls.build(spec.names, cfg, list(spec.categories), bundle.reference)

    def family_matrix(self) -> np.ndarray:
        """One-hot (features x families): contributions @ this = per-family sums."""
        onehot = np.zeros((len(self.names), len(self.families)))
        onehot[np.arange(len(self.names)), self.feature_family_index] = 1.0
        return onehot

    def direction(self, feature: int, value: object) -> str | None:
        """A value's direction: "high" or "low" against the feature's median on the reference
        rows, "none" when the value is missing, None for categorical features or an unknown
        median."""
        if self.names[feature] in self.categorical or isinstance(value, str):
            return None
        if not _present(value):
            return NONE
        median = np.nan if self.medians is None else self.medians[feature]
        if np.isnan(median):
            return None
        number = float(value)  # type: ignore[arg-type]
        if number == median:
            return self.at_median[feature]
        return HIGH if number > median else LOW

    def words(self, feature: int, value: object, raising: bool = True) -> str:
        """The marketer's sentence for one feature at one value: a reason when `raising`, else a
        protective factor (which never says "only")."""
        wording = self.wordings[feature]
        if self.names[feature] in self.categorical or isinstance(value, str):
            if not _present(value):
                return f"{wording.label} is unknown"
            return f"{wording.label} is {str(value).replace('_', ' ')}"
        if not _present(value):
            # "days since" features are missing when the event did not happen in the lookback.
            return self._fill(wording.missing or "{label} is unknown", np.nan, wording)
        number = float(value)  # type: ignore[arg-type]
        if wording.zero is not None and _is_zero(number, wording.reason):
            return self._fill(wording.zero, number, wording)
        sentence = self._fill(wording.reason, number, wording)
        # "only" says a low amount is why the risk is high: true only of a raising reason
        # whose value is below the typical one (or when the typical one is unknown).
        if not raising or self.direction(feature, number) not in (LOW, None):
            sentence = _ONLY.sub("", sentence)
        return sentence

    def _fill(self, template: str, value: float, wording: Wording) -> str:
        def replace(match: re.Match) -> str:
            kind, spec = match.group(1), match.group(2)
            if kind == "label":
                return wording.label
            if kind == "lookback":
                return _lookback(self.lookback_days)
            if kind == "money":
                return _money(value, self.currency)
            if kind == "days_ago":
                return _days_ago(value)
            if kind == "n":
                return _count(value, spec or "")
            return format(value, spec) if spec else _number(value)

        return _PLACEHOLDER.sub(replace, template)


def _check_template(name: str, wording: Wording) -> None:
    for template in (wording.reason, wording.missing, wording.zero):
        for match in _PLACEHOLDER.finditer(template or ""):
            if match.group(1) not in _KNOWN:
                raise ValueError(
                    f"feature {name}: unknown placeholder {match.group(0)} in {template!r}; "
                    f"use one of {sorted(_KNOWN)}"
                )


def _present(value: object) -> bool:
    if value is None:
        return False
    try:
        return not math.isnan(value)  # type: ignore[arg-type]
    except TypeError:
        return not pd.isna(value)


def _is_zero(value: float, template: str) -> bool:
    """Zero as the sentence would show it: a count below one half, money below a cent."""
    if "{n:" in template:
        return round(value) == 0
    if "{money}" in template:
        return round(value, 2) == 0
    return value == 0


def _number(value: float) -> str:
    """A number in words: whole numbers without decimals, others with up to two."""
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _count(value: float, nouns: str) -> str:
    """A whole count with its noun: "1 payment", "3 payments"; times read "once", "twice"."""
    one, _, many = nouns.partition("|")
    n = round(float(value))
    if one == "time" and n in (1, 2):
        return ("once", "twice")[n - 1]
    return f"{n:,} {one if n == 1 else many or one}"


def _money(value: float, currency: str) -> str:
    """An amount with its currency: "$34.99", "€5.00", "CHF 34.99"."""
    sign = "-" if value < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    amount = f"{abs(value):,.2f}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{currency} {amount}"


def _days_ago(value: float) -> str:
    """Calendar days before the cutoff: features see events strictly before it (midnight of the
    scored day), so 0.3 days before is yesterday evening and the count is rounded up."""
    days = max(math.ceil(value - 1e-9), 0)
    if days == 0:
        return "today"
    return "yesterday" if days == 1 else f"{days:,} days ago"


def _lookback(days: int) -> str:
    return {7: "week", 30: "month", 365: "year"}.get(days, f"{days:,} days")


def _strongest(
    contributions: np.ndarray, book: ReasonBook, pick: Callable = np.argmax
) -> np.ndarray:
    """(rows x families): each family's strongest feature index by `pick` (first on ties)."""
    strongest = np.full((contributions.shape[0], len(book.families)), -1, dtype=np.int64)
    for f in range(len(book.families)):
        columns = np.flatnonzero(book.feature_family_index == f)
        strongest[:, f] = columns[pick(contributions[:, columns], axis=1)]
    return strongest


def top_families(
    contributions: np.ndarray,
    book: ReasonBook,
    top: int = TOP_REASONS,
    sums: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the `top` family indices by summed contribution above the book's floor (-1
    when fewer clear it), their sums, and each chosen family's strongest feature index (-1 where
    none). `sums` (rows x families) when already computed."""
    sums = contributions @ book.family_matrix() if sums is None else sums
    # Stable sort on the negated sums: equal sums keep family order.
    order = np.argsort(-sums, axis=1, kind="stable")[:, :top]
    chosen = np.take_along_axis(sums, order, axis=1)
    kept = chosen > book.floor
    families = np.where(kept, order, -1)
    values = np.where(kept, chosen, np.nan)
    strongest = _strongest(contributions, book)
    features = np.where(kept, np.take_along_axis(strongest, np.maximum(order, 0), axis=1), -1)
    if families.shape[1] < top:  # fewer families than reasons: pad with "no reason"
        pad = top - families.shape[1]
        families = np.pad(families, ((0, 0), (0, pad)), constant_values=-1)
        features = np.pad(features, ((0, 0), (0, pad)), constant_values=-1)
        values = np.pad(values, ((0, 0), (0, pad)), constant_values=np.nan)
    return families, values, features


def protective_family(
    contributions: np.ndarray, book: ReasonBook, sums: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the family pushing risk down the most, beyond the floor (-1 when none), its sum
    (NaN when none) and its most negative feature (-1 when none)."""
    sums = contributions @ book.family_matrix() if sums is None else sums
    rows = np.arange(sums.shape[0])
    lowest = np.argmin(sums, axis=1) if sums.shape[1] else np.zeros(len(rows), dtype=np.int64)
    value = sums[rows, lowest] if sums.shape[1] else np.full(len(rows), np.nan)
    kept = value < -book.floor
    feature = _strongest(contributions, book, np.argmin)[rows, lowest] if sums.shape[1] else -1
    return (
        np.where(kept, lowest, -1),
        np.where(kept, value, np.nan),
        np.where(kept, feature, -1),
    )


def reason_codes(
    contributions: np.ndarray, frame: pd.DataFrame, book: ReasonBook, top: int = TOP_REASONS
) -> pd.DataFrame:
    """Per row: reason_1..top (words), reason_k_contribution (family sums, log-odds),
    protective_factor (words) and protective_contribution (its family sum, negative),
    reason_1_family and reason_1_direction ("high", "low", "none" or None); empty (None/NaN)
    where no family clears the floor.

    `contributions` holds the features' columns only (no bias), in `book.names` order; `frame`
    holds the same rows' feature values, which fill the templates.
    """
    sums = contributions @ book.family_matrix()
    families, values, features = top_families(contributions, book, top, sums)
    out: dict[str, object] = {}
    for k in range(top):
        out[f"reason_{k + 1}"] = _per_value(features[:, k], frame, book, book.words)
    for k in range(top):
        out[f"reason_{k + 1}_contribution"] = values[:, k]
    _family, protective, feature = protective_family(contributions, book, sums)
    out["protective_factor"] = _per_value(
        feature, frame, book, lambda j, value: book.words(j, value, raising=False)
    )
    out["protective_contribution"] = protective
    names = np.asarray([*book.families, None], dtype=object)
    # -1 indexes the trailing None: no family cleared the floor.
    out["reason_1_family"] = names[families[:, 0]]
    out["reason_1_direction"] = _per_value(features[:, 0], frame, book, book.direction)
    return pd.DataFrame(out, index=frame.index)


def _per_value(
    features: np.ndarray, frame: pd.DataFrame, book: ReasonBook, function: Callable
) -> np.ndarray:
    """`function(feature, value)` for each row's chosen feature (None where -1); each distinct
    (feature, value) is computed once."""
    result = np.full(len(features), None, dtype=object)
    for j in np.unique(features[features >= 0]):
        rows = np.flatnonzero(features == j)
        column = frame[book.names[j]].iloc[rows]
        if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            column
        ):
            text = column.astype("object").where(column.notna(), None).to_numpy()
            cache = {value: function(j, value) for value in pd.unique(text)}
            result[rows] = [cache[value] for value in text]
            continue
        numbers = column.to_numpy(dtype=np.float64)
        uniques, inverse = np.unique(numbers, return_inverse=True)
        words = np.empty(len(uniques), dtype=object)
        words[:] = [function(j, value) for value in uniques]
        result[rows] = words[inverse]
    return result


@dataclass(frozen=True)
class ReasonTemplate:
    """Which wording a sentence was filled from: its family, its feature, which of the feature's
    templates ("reason", "zero", "missing", or "value" for a category) and that template in
    words with the number as N ("contacted support N times this month"); a category keeps its
    value ("plan is basic"). Family and feature are "" for a sentence no template fills."""

    family: str
    feature: str
    kind: str
    words: str


class ReasonTemplates:
    """The inverse of `ReasonBook.words`: the template a published sentence came from, so that
    "contacted support 4 times this month" and "... 5 times ..." count as one driver. A sentence
    no template of the book fills (an older wording) stays its own, its numbers read as N."""

    def __init__(self, book: ReasonBook) -> None:
        symbol = CURRENCY_SYMBOLS.get(book.currency.upper())
        self._money = f"{symbol}N" if symbol else f"{book.currency} N"
        self._lookback = _lookback(book.lookback_days)
        literal, open_ = [], []
        for j, (name, wording) in enumerate(zip(book.names, book.wordings, strict=True)):
            family = book.families[book.feature_family_index[j]]
            if name in book.categorical:
                kinds = {"missing": "{label} is unknown", "value": "{label} is {value}"}
            else:
                missing = wording.missing or "{label} is unknown"
                kinds = {"zero": wording.zero, "missing": missing, "reason": wording.reason}
            for kind, template in kinds.items():
                if template is None:
                    continue
                entry = (self._pattern(template, wording.label), family, name, kind, template)
                wild = any(m.group(1) not in ("label", "lookback") for m in _find(template))
                (open_ if wild else literal).append((*entry, wording.label))
        # Fixed sentences first: "received no marketing emails this month" is a zero, not the
        # reason "received {n} this month" of the same or another feature.
        self._entries = literal + open_
        self._cache: dict[str, ReasonTemplate] = {}

    def of(self, text: str) -> ReasonTemplate:
        """The template `text` was filled from."""
        if text not in self._cache:
            self._cache[text] = self._find(text)
        return self._cache[text]

    def _find(self, text: str) -> ReasonTemplate:
        for pattern, family, name, kind, template, label in self._entries:
            if pattern.fullmatch(text):
                words = text if kind == "value" else self._generic(template, label)
                return ReasonTemplate(family, name, kind, words)
        return ReasonTemplate("", "", "unknown", re.sub(r"\d[\d,.]*", "N", text))

    def _pattern(self, template: str, label: str) -> re.Pattern:
        parts, position = [], 0
        for match in _find(template):
            parts.append(_optional_only(template[position : match.start()]))
            kind = match.group(1)
            fixed = {"label": label, "lookback": self._lookback}.get(kind)
            parts.append(re.escape(fixed) if fixed is not None else _wildcard(kind, match))
            position = match.end()
        parts.append(_optional_only(template[position:]))
        return re.compile("".join(parts))

    def _generic(self, template: str, label: str) -> str:
        def replace(match: re.Match) -> str:
            kind, spec = match.group(1), match.group(2) or ""
            if kind == "label":
                return label
            if kind == "lookback":
                return self._lookback
            if kind == "money":
                return self._money
            if kind == "days_ago":
                return "N days ago"
            if kind == "n":
                one, _, many = spec.partition("|")
                return f"N {many or one}"
            return "N%" if spec.endswith("%") else "N"

        return _ONLY.sub("", _PLACEHOLDER.sub(replace, template))


_NUMBER = r"[-+]?[\d,]+(?:\.\d+)?"
_WILDCARDS = {
    "money": rf"-?\D{{0,4}}?{_NUMBER}",
    "days_ago": rf"(?:today|yesterday|{_NUMBER} days ago)",
}


def _wildcard(kind: str, match: re.Match) -> str:
    """What a placeholder of a template can have been filled with, as a pattern."""
    spec = match.group(2) or ""
    if kind == "n":
        nouns = "|".join(re.escape(noun) for noun in spec.split("|") if noun)
        return rf"(?:once|twice|{_NUMBER} (?:{nouns}))"
    if kind in _WILDCARDS:
        return _WILDCARDS[kind]
    if kind == "value" and spec:
        return _NUMBER + ("%" if spec.endswith("%") else "")
    return ".+"


def _find(template: str):
    return _PLACEHOLDER.finditer(template)


def _optional_only(text: str) -> str:
    """A template's literal text as a pattern, its "only " optional (`words` may drop it)."""
    return "(?:only )?".join(re.escape(piece) for piece in text.split("only "))
